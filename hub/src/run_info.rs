//! What every greenlet of the hub is doing (gevent's `gevent.util.print_run_info`).

use std::fmt::Write as _;
use std::rc::{Rc, Weak};
use std::time::Instant;

use crate::hub::Hub;
use crate::io::Direction;
use crate::task::Task;
use crate::timer::TimerAction;
use crate::wait::Wake;

/// Prints [`run_info`] to stderr.
pub fn print_run_info() {
    eprint!("{}", run_info());
}

/// One line per live greenlet of this thread's hub, the thread's own (root) greenlet
/// first: its name (or address), state (`running`, `ready`, `parked`, `not started`),
/// what a parked one waits on (an fd and direction, a sleep or deadline and when it
/// is due, or else a hub primitive: an event, queue, lock or join), and who spawned
/// it.
///
/// ```
/// let _g = hub::Builder::new().name("napper").spawn(|| {
///     hub::sleep(std::time::Duration::from_secs(5))
/// });
/// hub::yield_now().unwrap();
/// let info = hub::run_info();
/// assert!(info.contains("\"napper\" parked, waits on a sleep"), "{info}");
/// assert!(info.contains("spawned by main"), "{info}");
/// ```
pub fn run_info() -> String {
    let hub = Hub::current();
    let tasks: Vec<Rc<Task>> = std::iter::once(hub.root.clone())
        .chain(hub.tasks.borrow().iter().filter_map(Weak::upgrade))
        .filter(|t| !t.is_done())
        .collect();
    let io_waits = hub.io.waits();
    let now = Instant::now();
    let mut out = format!("hub: {} greenlets alive\n", tasks.len());
    for task in &tasks {
        let _ = write!(out, "  {} {}", label(&hub, task), state(&hub, task));
        if task.parked.get() {
            let mut waits: Vec<String> = io_waits
                .iter()
                .filter(|(w, _, _)| Rc::ptr_eq(w.task(), task))
                .map(|(_, fd, direction)| match direction {
                    Direction::Read => format!("fd {fd} readable"),
                    Direction::Write => format!("fd {fd} writable"),
                })
                .collect();
            for (at, action) in hub.timers.borrow().iter() {
                if let TimerAction::Wake(w, why) = action
                    && Rc::ptr_eq(w.task(), task)
                    && !w.is_stale()
                {
                    let kind = if *why == Wake::TimedOut {
                        "a deadline"
                    } else {
                        "a sleep"
                    };
                    let due = at.saturating_duration_since(now);
                    waits.push(format!("{kind} due in {:.3}s", due.as_secs_f64()));
                }
            }
            if waits.is_empty() {
                waits.push("an event, queue, lock or join".into());
            }
            let _ = write!(out, ", waits on {}", waits.join(" or "));
        }
        let spawner = task.spawned_by.take();
        let by = if Rc::ptr_eq(task, &hub.root) {
            None
        } else {
            Some(match spawner.upgrade() {
                Some(parent) => label(&hub, &parent),
                None if spawner.ptr_eq(&Weak::new()) => "the hub".into(),
                None => "a greenlet that has finished".into(),
            })
        };
        task.spawned_by.set(spawner);
        if let Some(by) = by {
            let _ = write!(out, ", spawned by {by}");
        }
        out.push('\n');
    }
    out
}

fn label(hub: &Hub, task: &Rc<Task>) -> String {
    if Rc::ptr_eq(task, &hub.root) {
        return "main".into();
    }
    match task.name() {
        Some(name) => format!("{name:?}"),
        None => format!("greenlet@{:p}", Rc::as_ptr(task)),
    }
}

fn state(hub: &Hub, task: &Rc<Task>) -> &'static str {
    let current = hub.current.borrow();
    if current.as_ref().is_some_and(|c| Rc::ptr_eq(c, task)) {
        "running"
    } else if task.parked.get() {
        "parked"
    } else if !task.greenlet.is_started() && !Rc::ptr_eq(task, &hub.root) {
        "not started"
    } else {
        "ready"
    }
}
