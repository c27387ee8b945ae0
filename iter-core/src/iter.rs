//! The bridge between [`Resume`] and `std::iter::Iterator`, both ways.

use crate::{Resume, State};

/// Iterates the values a coroutine yields, keeping its return value.
///
/// Python's `for x in gen` discards `StopIteration.value`; this adapter keeps it, so
/// after the last item [`Iter::return_value`] gives what the coroutine returned.
#[derive(Debug)]
pub struct Iter<C: Resume> {
    coroutine: C,
    returned: Option<C::Return>,
    done: bool,
}

/// Wraps a coroutine resumed with `()` as an [`Iter`].
pub fn iter<C: Resume>(coroutine: C) -> Iter<C> {
    Iter {
        coroutine,
        returned: None,
        done: false,
    }
}

impl<C: Resume> Iter<C> {
    /// The return value, once the coroutine has completed.
    pub fn return_value(&self) -> Option<&C::Return> {
        self.returned.as_ref()
    }

    /// Takes the return value, once the coroutine has completed.
    pub fn take_return_value(&mut self) -> Option<C::Return> {
        self.returned.take()
    }

    /// True once the coroutine has completed (or refused to resume).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The wrapped coroutine.
    pub fn into_inner(self) -> C {
        self.coroutine
    }
}

impl<C: Resume> Iterator for Iter<C> {
    type Item = C::Yield;

    fn next(&mut self) -> Option<C::Yield> {
        if self.done {
            return None;
        }
        match self.coroutine.resume(()) {
            Ok(State::Yielded(y)) => Some(y),
            Ok(State::Complete(r)) => {
                self.returned = Some(r);
                self.done = true;
                None
            }
            Err(_) => {
                self.done = true;
                None
            }
        }
    }
}

impl<C: Resume> std::iter::FusedIterator for Iter<C> {}

/// A [`Resume`] that yields an iterator's items and completes with `()`.
#[derive(Debug, Clone)]
pub struct FromIter<I> {
    iter: Option<I>,
}

/// Turns any iterator into a coroutine: each resume yields the next item, then it
/// completes once, then it reports [`crate::ResumeError::Finished`].
pub fn from_iter<I: IntoIterator>(iter: I) -> FromIter<I::IntoIter> {
    FromIter {
        iter: Some(iter.into_iter()),
    }
}

impl<I: Iterator> Resume for FromIter<I> {
    type Yield = I::Item;
    type Return = ();

    fn resume(&mut self, arg: ()) -> Result<State<I::Item, ()>, crate::ResumeError<()>> {
        let Some(iter) = self.iter.as_mut() else {
            return Err(crate::ResumeError::Finished(arg));
        };
        match iter.next() {
            Some(item) => Ok(State::Yielded(item)),
            None => {
                self.iter = None;
                Ok(State::Complete(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResumeError;

    #[test]
    fn from_iter_round_trips_through_iter() {
        let mut it = iter(from_iter(1..=3));
        assert_eq!(it.by_ref().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(it.return_value(), Some(&()));
        assert!(it.is_done());
        assert_eq!(it.next(), None);
    }

    #[test]
    fn from_iter_reports_finished_after_completion() {
        let mut c = from_iter(Some(7));
        assert_eq!(c.resume(()), Ok(State::Yielded(7)));
        assert_eq!(c.resume(()), Ok(State::Complete(())));
        assert_eq!(c.resume(()), Err(ResumeError::Finished(())));
    }

    #[test]
    fn state_accessors() {
        let y: State<i32, &str> = State::Yielded(1);
        let c: State<i32, &str> = State::Complete("done");
        assert_eq!(y.yielded(), Some(1));
        assert_eq!(c.complete(), Some("done"));
        assert!(c.is_complete() && !y.is_complete());
        assert_eq!(ResumeError::Finished(5).into_inner(), 5);
        assert_eq!(
            ResumeError::NotStarted(()).to_string(),
            "can't send a value to a coroutine that has not started"
        );
    }
}
