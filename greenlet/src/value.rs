//! The payload carried by a switch.

use std::any::Any;
use std::fmt;

/// What one greenlet hands another with a switch: any value, typed at the receiver.
///
/// Switching is symmetric: any greenlet may switch to any other, and the root
/// greenlet receives from all of them. A greenlet generic over its payload type could
/// not express that, so a switch carries a dynamically typed value (as Python's does)
/// and the receiver takes it out with [`Value::downcast`]. Python's `None` is `()`,
/// which, like every zero-sized value, costs no allocation.
pub struct Value(Box<dyn Any>);

impl Value {
    /// Wraps `value`. A `Value` passed in is used as it is, not wrapped again.
    pub fn new<T: Any>(value: T) -> Value {
        let mut slot = Some(value);
        if let Some(inner) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Value>>() {
            return inner.take().expect("slot is full");
        }
        Value(Box::new(slot.expect("slot is full")))
    }

    /// Python's `None`: the unit value.
    pub fn none() -> Value {
        Value(Box::new(()))
    }

    /// True if this is `()`, Python's `None`.
    pub fn is_none(&self) -> bool {
        self.0.is::<()>()
    }

    /// True if this holds a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.0.is::<T>()
    }

    /// Takes the `T` out, or gives the value back if it holds something else.
    pub fn downcast<T: Any>(self) -> Result<T, Value> {
        self.0.downcast::<T>().map(|b| *b).map_err(Value)
    }

    /// Borrows the `T` inside, if that is what it holds.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl Default for Value {
    fn default() -> Value {
        Value::none()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("Value(())");
        }
        macro_rules! show {
            ($($t:ty),*) => {$(
                if let Some(v) = self.downcast_ref::<$t>() {
                    return write!(f, "Value({v:?})");
                }
            )*};
        }
        show!(
            i32,
            i64,
            u32,
            u64,
            usize,
            bool,
            &'static str,
            String,
            crate::GreenletExit
        );
        f.write_str("Value(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps() {
        let v = Value::new(5u8);
        assert!(v.is::<u8>() && !v.is_none());
        assert_eq!(v.downcast_ref::<u8>(), Some(&5));
        let v = v.downcast::<String>().unwrap_err();
        assert_eq!(v.downcast::<u8>().unwrap(), 5);
    }

    #[test]
    fn value_is_not_wrapped_twice() {
        let v = Value::new(Value::new("x"));
        assert_eq!(v.downcast::<&str>().unwrap(), "x");
        assert!(Value::new(()).is_none() && Value::default().is_none());
    }
}
