//! Failures of greenlets nobody joins are reported once, on stderr by default.

use std::process::Command;

const MARK: &str = "failed and was never joined";

/// Run in a child process (its stderr is the test's evidence).
#[test]
fn child() {
    let Ok(case) = std::env::var("HUB_REPORT_CHILD") else {
        return;
    };
    match case.as_str() {
        "default" => {
            // Dropped before it runs, then panics: reported when it ends.
            drop(
                hub::Builder::new()
                    .name("dropped-panics")
                    .spawn(|| panic!("boom")),
            );
            // Ends first, handle dropped later: reported at the drop.
            let late = hub::Builder::new()
                .name("returns-err")
                .spawn(|| -> std::io::Result<()> { Err(std::io::Error::other("disk full")) });
            hub::yield_now().unwrap();
            drop(late);
            // Observed: joined, linked, waited for. Never reported.
            let joined = hub::Builder::new().name("joined").spawn(|| panic!("seen"));
            assert!(joined.join().is_err());
            let linked = hub::Builder::new().name("linked").spawn(|| panic!("seen"));
            linked.link(|| {});
            drop(linked);
            let waited = hub::Builder::new()
                .name("waited")
                .spawn(|| Err::<(), _>("seen"));
            waited.wait(None).unwrap();
            drop(waited);
            // Killed and successful ones are not failures.
            let killed = hub::Builder::new()
                .name("killed")
                .spawn(|| hub::sleep(std::time::Duration::from_secs(9)));
            hub::yield_now().unwrap();
            killed.kill_nowait();
            drop(killed);
            drop(
                hub::Builder::new()
                    .name("fine")
                    .spawn(|| Ok::<(), String>(())),
            );
            // A member of a group is not "linked" by the group's bookkeeping.
            let group = hub::Group::new();
            drop(group.spawn(|| -> Result<(), String> { Err("in a group".into()) }));
            group.join(None).unwrap();
            hub::sleep(std::time::Duration::from_millis(10)).unwrap();
        }
        "off" => {
            hub::set_failure_reports(hub::FailureReports::Off);
            drop(hub::Builder::new().name("silent").spawn(|| panic!("boom")));
            hub::sleep(std::time::Duration::from_millis(10)).unwrap();
        }
        "tracing" => {
            hub::set_failure_reports(hub::FailureReports::Tracing);
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(std::io::stderr)
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                drop(hub::Builder::new().name("traced").spawn(|| panic!("boom")));
                hub::sleep(std::time::Duration::from_millis(10)).unwrap();
            });
        }
        other => panic!("unknown case {other}"),
    }
}

fn run_child(case: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("HUB_REPORT_CHILD", case)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child {case} failed:\n{stderr}");
    stderr
}

fn reports(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(MARK)).collect()
}

#[test]
fn each_unobserved_failure_is_reported_exactly_once_on_stderr() {
    let stderr = run_child("default");
    let reports = reports(&stderr);
    let about = |name: &str| reports.iter().filter(|l| l.contains(name)).count();
    assert_eq!(about("\"dropped-panics\""), 1, "{stderr}");
    assert!(
        reports
            .iter()
            .any(|l| l.contains("\"dropped-panics\"") && l.contains("boom"))
    );
    assert_eq!(about("\"returns-err\""), 1, "{stderr}");
    assert!(reports.iter().any(|l| l.contains("disk full")), "{stderr}");
    assert_eq!(about("in a group"), 1, "{stderr}");
    assert_eq!(reports.len(), 3, "nothing else is reported:\n{stderr}");
}

#[test]
fn reports_can_be_switched_off() {
    let stderr = run_child("off");
    assert!(reports(&stderr).is_empty(), "{stderr}");
    // The panic itself still went through Rust's panic hook: the child did run.
    assert!(stderr.contains("boom"), "{stderr}");
}

#[test]
fn reports_can_go_to_tracing() {
    let stderr = run_child("tracing");
    let reports = reports(&stderr);
    assert_eq!(reports.len(), 1, "{stderr}");
    assert!(
        reports[0].contains("ERROR") && reports[0].contains("traced"),
        "{stderr}"
    );
}
