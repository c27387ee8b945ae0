//! Twin of seed 001 §3.2–3.4 and §3.6: what makes a type iterable, and an iterator.
//!
//! Python finds out at run time: `for num in mylist` raises `TypeError`, and
//! `isinstance(x, Iterable)` asks whether the class has `__iter__`. Rust answers the same
//! question at compile time: `for num in &mylist` on a type without `IntoIterator` does
//! not compile (E0277). To print the answers the tutorial prints, [`implements!`] asks
//! the compiler and turns its answer into a `bool`.

/// `implements!(value, Trait)`: whether `value`'s type implements `Trait`, decided at
/// compile time. Method lookup tries `Yes` (implemented only where the bound holds) on
/// `&Probe` before auto-referencing to `No` on `&&Probe` ("autoref specialization").
macro_rules! implements {
    ($value:expr, $trait:path) => {{
        struct Probe<T>(std::marker::PhantomData<T>);
        fn probe<T>(_: &T) -> Probe<T> {
            Probe(std::marker::PhantomData)
        }
        #[allow(dead_code)] // each use picks one of `Yes` and `No`
        trait Yes {
            fn answer(&self) -> bool {
                true
            }
        }
        impl<T: $trait> Yes for Probe<T> {}
        #[allow(dead_code)]
        trait No {
            fn answer(&self) -> bool {
                false
            }
        }
        impl<T> No for &Probe<T> {}
        (&probe(&$value)).answer()
    }};
}

/// §3.2: a container without `__iter__`.
mod without_iter {
    pub struct MyList {
        container: Vec<i32>,
    }

    impl MyList {
        pub fn new() -> MyList {
            MyList {
                container: Vec::new(),
            }
        }

        pub fn add(&mut self, item: i32) {
            self.container.push(item);
        }
    }
}

/// §3.4: the same container with `__iter__`: `&MyList` is `IntoIterator`, so
/// `for num in &mylist` compiles.
mod with_iter {
    pub struct MyList {
        container: Vec<i32>,
    }

    impl MyList {
        pub fn new() -> MyList {
            MyList {
                container: Vec::new(),
            }
        }

        pub fn add(&mut self, item: i32) {
            self.container.push(item);
        }
    }

    impl<'a> IntoIterator for &'a MyList {
        type Item = &'a i32;
        type IntoIter = std::slice::Iter<'a, i32>;

        fn into_iter(self) -> Self::IntoIter {
            self.container.iter()
        }
    }
}

/// Python's `for x in value`, for a value that is not iterable: the `TypeError` it raises.
fn not_iterable(type_name: &str, iterable: bool) {
    if !iterable {
        println!("TypeError: '{type_name}' object is not iterable");
    }
}

fn main() {
    // §3.2: `for i in 100` and `for num in mylist` both raise TypeError.
    not_iterable("int", implements!(&100, IntoIterator));
    let mut mylist = without_iter::MyList::new();
    mylist.add(1);
    mylist.add(2);
    mylist.add(3);
    not_iterable("MyList", implements!(&mylist, IntoIterator));

    // §3.3: isinstance([], Iterable), isinstance(10, Iterable).
    let py = |b: bool| if b { "True" } else { "False" };
    println!("{}", py(implements!(&Vec::<i32>::new(), IntoIterator)));
    println!("{}", py(implements!(&10, IntoIterator)));

    // §3.4: with __iter__, print(isinstance(mylist, Iterable)).
    let mut mylist = with_iter::MyList::new();
    mylist.add(1);
    mylist.add(2);
    println!("{}", py(implements!(&mylist, IntoIterator)));

    // §3.6: a list is iterable but not an iterator; what iter() returns is one.
    println!("{}", py(implements!(Vec::<i32>::new(), Iterator)));
    println!(
        "{}",
        py(implements!(Vec::<i32>::new().into_iter(), Iterator))
    );
    println!("{}", py(implements!("abc".chars(), Iterator)));
}
