//! Several hubs: each thread has its own, work is handed across with HubHandle, and
//! values cross with channel(), waking the receiving hub.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hub::{
    Error, Hub, HubHandle, QueueError, Timeout, channel, cores, run_hubs, run_hubs_with, sleep,
    spawn, yield_now,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn each_thread_runs_its_own_hub() {
    let n = cores().clamp(2, 4);
    let results = run_hubs(n, |i| {
        let here = std::thread::current().id();
        // Greenlets stay on their hub's thread.
        let g = spawn(move || {
            sleep(MS).unwrap();
            std::thread::current().id()
        });
        assert_eq!(g.join().unwrap(), here);
        (i, format!("{:?}", here))
    });
    assert_eq!(results.len(), n);
    let mut threads: Vec<String> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let (j, t) = r.unwrap();
            assert_eq!(i, j);
            t
        })
        .collect();
    threads.sort();
    threads.dedup();
    assert_eq!(threads.len(), n, "one thread per hub");
}

#[test]
fn panicking_hub_is_reported() {
    let results = run_hubs(2, |i| {
        if i == 1 {
            panic!("hub {i} failed");
        }
        i
    });
    assert_eq!(results[0].as_ref().unwrap(), &0);
    match &results[1] {
        Err(Error::Panicked(p)) => assert_eq!(hub::panic_message(p), "hub 1 failed"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn cross_hub_messages_wake_the_receiver() {
    const HUBS: usize = 4;
    const PER: usize = 1000;
    let (tx, rx) = channel::<(usize, usize)>();
    let mut rx = Some(rx);
    let inputs: Vec<_> = (0..HUBS)
        .map(|i| if i == 0 { rx.take() } else { None })
        .collect();
    // Hub 0 receives; the others send, pausing now and then so hub 0 parks often.
    let results = run_hubs_with(inputs, |i, rx| match rx {
        Some(rx) => {
            let mut next = [0usize; HUBS];
            let ticker = spawn(|| {
                for _ in 0..3 {
                    sleep(MS).unwrap();
                }
            });
            for _ in 0..(HUBS - 1) * PER {
                let (from, seq) = rx.recv(None).unwrap();
                assert_eq!(next[from], seq, "each sender's order is kept");
                next[from] += 1;
            }
            ticker.join().unwrap();
            assert_eq!(rx.try_recv(), Err(QueueError::Empty), "nothing duplicated");
            next.iter().sum::<usize>()
        }
        None => {
            for seq in 0..PER {
                tx.send((i, seq)).unwrap();
                if seq % 64 == 0 {
                    sleep(Duration::from_micros(50)).unwrap();
                }
            }
            0
        }
    });
    assert_eq!(*results[0].as_ref().unwrap(), (HUBS - 1) * PER);
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn receiver_ends_when_all_senders_drop() {
    let (tx, rx) = channel::<u32>();
    let t = std::thread::spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    let got: Vec<u32> = rx.iter().collect();
    t.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(rx.recv(None), Err(QueueError::Closed));
}

#[test]
fn send_to_dropped_receiver_gives_value_back() {
    let (tx, rx) = channel::<String>();
    drop(rx);
    let e = tx.send("lost?".into()).unwrap_err();
    assert_eq!((e.item.as_str(), e.error), ("lost?", QueueError::Closed));
}

#[test]
fn recv_honours_timeout_and_kill_and_other_greenlets_run() {
    let (tx, rx) = channel::<u8>();
    assert_eq!(rx.try_recv(), Err(QueueError::Empty));
    assert_eq!(rx.recv(Some(2 * MS)), Err(QueueError::Wait(Error::Timeout)));
    let t = Timeout::start(2 * MS);
    assert_eq!(rx.recv(None), Err(QueueError::Wait(Error::Timeout)));
    drop(t);
    let rx = std::rc::Rc::new(rx);
    let r = rx.clone();
    let victim = spawn(move || r.recv(None));
    yield_now().unwrap();
    victim.kill().unwrap();
    // Nothing was lost: a value sent now is received by the next recv.
    let sender = std::thread::spawn(move || {
        std::thread::sleep(5 * MS);
        tx.send(7).unwrap();
    });
    let ticks = spawn(|| {
        for _ in 0..2 {
            sleep(MS).unwrap();
        }
        2
    });
    assert_eq!(rx.recv(None), Ok(7));
    assert_eq!(ticks.join().unwrap(), 2, "the hub ran others while waiting");
    sender.join().unwrap();
    assert_eq!(rx.recv(None), Err(QueueError::Closed));
    assert_eq!(Hub::current().pending_timers(), 0);
}

#[test]
fn hand_work_to_another_hub() {
    let (handle_tx, handle_rx) = mpsc::channel::<HubHandle>();
    let (done_tx, done_rx) = channel::<String>();
    let ran = Arc::new(AtomicUsize::new(0));
    let inputs = [(Some(done_rx), None), (None, Some(handle_rx))];
    let results = run_hubs_with(inputs, |_, (done, handles)| {
        if let Some(done) = done {
            // Hub 0: offers itself, then waits for 10 greenlets handed to it.
            handle_tx.send(HubHandle::current()).unwrap();
            let names: Vec<String> = (0..10).map(|_| done.recv(None).unwrap()).collect();
            names
        } else {
            let hub0 = handles.unwrap().recv().unwrap();
            for _ in 0..10 {
                let (done_tx, ran) = (done_tx.clone(), ran.clone());
                hub0.spawn(move || {
                    sleep(MS).unwrap(); // a real greenlet of hub 0: it can block
                    ran.fetch_add(1, Ordering::SeqCst);
                    let name = std::thread::current().name().unwrap().to_string();
                    done_tx.send(name).unwrap();
                })
                .unwrap();
            }
            Vec::new()
        }
    });
    let names = results.into_iter().next().unwrap().unwrap();
    assert_eq!(names.len(), 10);
    assert!(names.iter().all(|n| n == "hub-0"), "{names:?}");
    assert_eq!(ran.load(Ordering::SeqCst), 10);
}

#[test]
fn hub_handle_to_exited_hub_is_hub_gone() {
    let handle = std::thread::spawn(HubHandle::current).join().unwrap();
    assert_eq!(handle.spawn(|| ()), Err(Error::HubGone));
}
