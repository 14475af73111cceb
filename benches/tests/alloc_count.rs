//! The allocation counter counts what a marked thread allocates while a window is open, for its
//! side only, and nothing else.

use std::sync::{Arc, Barrier};

use hardlight_benches::alloc_count::{Counting, Side, Window, mark_thread};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn counts_each_sides_allocations_inside_the_window_only() {
    mark_thread(Side::Client);
    // A thread marked as the server, started before the window (starting a thread allocates on the
    // thread that starts it); barriers let it allocate inside the window.
    let (open, done) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let server = std::thread::spawn({
        let (open, done) = (open.clone(), done.clone());
        move || {
            mark_thread(Side::Server);
            open.wait();
            std::hint::black_box(vec![3u8; 300]);
            done.wait();
        }
    });
    // Before the window: not counted.
    let before = std::hint::black_box(vec![0u8; 100]);
    let window = Window::open();
    open.wait();
    let counted = std::hint::black_box(vec![1u8; 1000]);
    let mut grown = std::hint::black_box(Vec::<u8>::with_capacity(10));
    grown.extend_from_slice(&[2u8; 50]);
    done.wait();
    let [server_side, client_side] = window.close();
    let after = std::hint::black_box(vec![0u8; 100]);
    drop((before, counted, grown, after));
    server.join().expect("the server thread");

    // The 1000-byte vector, the 10-byte one, and its growth (one `realloc`, at its new size).
    assert_eq!(client_side.allocations, 3, "{client_side:?}");
    assert!(client_side.bytes >= 1000 + 10 + 50, "{client_side:?}");
    assert_eq!(server_side.allocations, 1, "{server_side:?}");
    assert_eq!(server_side.bytes, 300, "{server_side:?}");
}
