//! Replays the fuzz seed corpus (`fuzz/corpus/<target>/`) through the fuzz targets'
//! own checks (`fuzz/src/lib.rs`), so CI exercises them on stable without libFuzzer.
//! Inputs that once crashed a target are kept in the corpus as regression tests.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::path::Path;

#[test]
fn seed_corpus_passes_the_fuzz_checks() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, check) in fuzz_checks::TARGETS {
        let dir = corpus.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "no seed in {}", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its check",
                input.display()
            );
        }
    }
    fuzz_checks::remove_scratch_dir();
}
