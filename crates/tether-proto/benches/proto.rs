//! Micro-benchmarks of the protocol engine's hot paths:
//!
//! - `mask`: [`apply_mask`] in GB/s, beside a plain copy of the same buffer
//!   (the memory-speed bound a mask can at best approach);
//! - `utf8`: [`Utf8Validator`] beside `simdutf8` and `std` on the same text;
//! - `frame_header`: [`FrameHeader::parse`] and [`FrameHeader::encode`];
//! - `decode`: whole messages through [`Connection::read_event`] (server
//!   role: header checks, unmasking, UTF-8, message assembly).
//!
//! `cargo bench -p tether-proto` (add `-- mask` for one group).
// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use tether_proto::frame::MAX_HEADER_LEN;
use tether_proto::mask::apply_mask;
use tether_proto::utf8::Utf8Validator;
use tether_proto::{Config, Connection, Event, FrameHeader, OpCode, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [20usize, 64, 1024, 16 * 1024, 256 * 1024] {
        let src: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let mut buf = src.clone();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("apply_mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), 0))
        });
        // Offset 1: the key rotated, as when a frame's payload arrives in pieces.
        group.bench_with_input(BenchmarkId::new("apply_mask_offset1", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf[1..]), black_box(KEY), 1))
        });
        group.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)))
        });
    }
    group.finish();
}

fn utf8_samples(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let ascii: Vec<u8> = b"The quick brown fox jumps over the lazy dog. ".iter().copied().cycle().take(size).collect();
    let mixed_src = "κόσμε, ℝ ⊆ ℂ, 日本語のテキスト, emoji 🚀✓, plain ASCII too. ";
    let mut mixed = String::new();
    while mixed.len() < size {
        mixed.push_str(mixed_src);
    }
    let mut cut = size;
    while !mixed.is_char_boundary(cut) {
        cut -= 1;
    }
    vec![("ascii", ascii), ("mixed", mixed.as_bytes()[..cut].to_vec())]
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        for (name, text) in utf8_samples(size) {
            group.throughput(Throughput::Bytes(text.len() as u64));
            let id = format!("{name}/{size}");
            group.bench_with_input(BenchmarkId::new("Utf8Validator", &id), &text, |b, text| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(text), true).unwrap();
                })
            });
            // Two pieces cut inside a code point, as a frame split by TCP.
            group.bench_with_input(BenchmarkId::new("Utf8Validator_split", &id), &text, |b, text| {
                let mut cut = text.len() / 2;
                while cut > 0 && text[cut] & 0xC0 == 0x80 {
                    cut -= 1;
                }
                let cut = (cut + 1).min(text.len());
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(&text[..cut]), false).unwrap();
                    v.feed(black_box(&text[cut..]), true).unwrap();
                })
            });
            group.bench_with_input(BenchmarkId::new("simdutf8", &id), &text, |b, text| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(text)).unwrap().len())
            });
            group.bench_with_input(BenchmarkId::new("std", &id), &text, |b, text| {
                b.iter(|| std::str::from_utf8(black_box(text)).unwrap().len())
            });
        }
    }
    group.finish();
}

fn frame_header(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_header");
    for (name, len) in [("len7", 20u64), ("len16", 16 * 1024), ("len64", 1 << 20)] {
        let header = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some(KEY), payload_len: len };
        let mut wire = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut wire);
        group.bench_function(BenchmarkId::new("parse", name), |b| {
            b.iter(|| FrameHeader::parse(black_box(&wire[..n])).unwrap().unwrap().1)
        });
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            let mut out = [0u8; MAX_HEADER_LEN];
            b.iter(|| black_box(&header).encode(black_box(&mut out)))
        });
    }
    group.finish();
}

/// `count` masked client frames of `size` bytes, back to back.
fn client_frames(opcode: OpCode, size: usize, count: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut wire = Vec::new();
    for i in 0..count {
        let key = [i as u8, 0x5a, 0xa5, 0x3c];
        let header = FrameHeader { fin: true, rsv: 0, opcode, mask: Some(key), payload_len: size as u64 };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        wire.extend_from_slice(&head[..n]);
        let start = wire.len();
        wire.extend_from_slice(&payload);
        apply_mask(&mut wire[start..], key, 0);
    }
    wire
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    const BATCH: usize = 64;
    for (kind, opcode) in [("binary", OpCode::Binary), ("text", OpCode::Text)] {
        for size in [20usize, 1024, 16 * 1024] {
            let wire = client_frames(opcode, size, BATCH);
            group.throughput(Throughput::Elements(BATCH as u64));
            group.bench_with_input(BenchmarkId::new(kind, size), &wire, |b, wire| {
                let mut conn = Connection::new(Role::Server, Config::default());
                b.iter_batched_ref(
                    || BytesMut::from(&wire[..]),
                    |input| {
                        let mut n = 0;
                        while let Some(event) = conn.read_event(input).unwrap() {
                            if let Event::Message(m) = event {
                                n += m.len();
                            }
                        }
                        assert_eq!(n, BATCH * size);
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, mask, utf8, frame_header, decode);
criterion_main!(benches);
