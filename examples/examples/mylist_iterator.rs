//! Twin of seed 001 §3.7: `MyList` with `__iter__` and `__next__`, a hand-written
//! iterator over the names 张三, 李四, 王五.
//!
//! Python's `__next__` is [`Resume::resume`] (a name, or `StopIteration` as
//! [`State::Complete`]); `__iter__` returning `self` is `MyList` being an [`Iterator`]
//! itself, so `for` iterates it directly.

use iter_core::{Resume, ResumeError, State};

struct MyList {
    name_list: Vec<String>,
    all_count: usize,
    /// Set once `StopIteration` has been reported; resuming after that is an error.
    stopped: bool,
}

impl MyList {
    fn new() -> MyList {
        MyList {
            name_list: Vec::new(),
            all_count: 0,
            stopped: false,
        }
    }

    fn add_name(&mut self, temp: &str) {
        self.name_list.push(temp.to_owned());
    }
}

impl Resume for MyList {
    type Yield = String;
    type Return = ();

    /// Python's `__next__`.
    fn resume(&mut self, arg: ()) -> Result<State<String, ()>, ResumeError<()>> {
        if self.all_count < self.name_list.len() {
            let ret = self.name_list[self.all_count].clone();
            self.all_count += 1;
            Ok(State::Yielded(ret))
        } else if !self.stopped {
            self.stopped = true;
            Ok(State::Complete(()))
        } else {
            Err(ResumeError::Finished(arg))
        }
    }
}

impl Iterator for MyList {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.resume(()).ok()?.yielded()
    }
}

/// Python's `isinstance(value, Iterable)`. Rust checks the bound where this is called,
/// so every call that compiles answers `True`.
fn isinstance_iterable<T: IntoIterator>(_: &T) -> &'static str {
    "True"
}

/// Python's `isinstance(value, Iterator)`, checked the same way.
fn isinstance_iterator<T: Iterator>(_: &T) -> &'static str {
    "True"
}

fn main() {
    let mut my_list = MyList::new();
    my_list.add_name("张三");
    my_list.add_name("李四");
    my_list.add_name("王五");
    println!(
        "判断my_list是否是可以迭代的对象: {}",
        isinstance_iterable(&my_list)
    );
    // Python's iter(my_list) returns my_list itself (its __iter__ returns self): here,
    // a borrow of that same iterator.
    let my_list_iterator = &mut my_list;
    println!(
        "判断my_list_iterator是否是迭代器: {}",
        isinstance_iterator(&my_list_iterator)
    );
    for name in my_list {
        println!("{name}");
    }
}
