#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_proto::fuzzing::client_handshake_response(data));
