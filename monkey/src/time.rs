//! Python's `time.sleep`, cooperative (what `monkey.patch_time()` installs): the same
//! function as [`crate::thread::sleep`], at the path a Python user looks for it.

pub use crate::thread::sleep;
