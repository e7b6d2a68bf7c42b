//! Replays the fuzz seed corpus and every input that ever crashed a fuzz
//! target (`fuzz/regressions/`) through the same entry points the fuzzers use.

use std::path::Path;

use tether_proto::fuzzing;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            run(&data);
            // Every prefix too: inputs cut short are the common case on a socket.
            for cut in (0..data.len()).step_by(data.len() / 64 + 1) {
                run(&data[..cut]);
            }
            count += 1;
        }
    }
    count
}

#[test]
fn frame_header_inputs() {
    assert!(replay("frame_header", fuzzing::frame_header) >= 5);
}

#[test]
fn connection_inputs() {
    assert!(replay("connection", fuzzing::connection) >= 5);
}

#[test]
fn client_handshake_inputs() {
    assert!(replay("client_handshake", fuzzing::client_handshake_response) >= 2);
}

#[test]
fn server_handshake_inputs() {
    assert!(replay("server_handshake", fuzzing::server_handshake_request) >= 2);
}

#[test]
fn inflate_inputs() {
    assert!(replay("inflate", fuzzing::inflate) >= 3);
}
