//! Hand-written bindings to Chromium's `WebSocketStream` and the parts of
//! the Streams API it hands out (web-sys has no bindings for the former,
//! and its stream bindings would pull in more features than the few calls used).

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    /// `WebSocketStream`: a WebSocket whose messages are a readable stream
    /// (read at the reader's pace) and a writable one.
    #[derive(Debug, Clone)]
    pub(super) type WebSocketStream;

    /// `new WebSocketStream(url, { protocols })`; throws a `SyntaxError`
    /// on a URL or subprotocol it rejects.
    #[wasm_bindgen(constructor, catch, js_class = "WebSocketStream")]
    pub(super) fn new(url: &str, options: &JsValue) -> Result<WebSocketStream, JsValue>;

    /// Resolves with `{ readable, writable, protocol, extensions }` once
    /// the handshake is done; rejects if it failed.
    #[wasm_bindgen(method, getter)]
    pub(super) fn opened(this: &WebSocketStream) -> Promise;

    /// Resolves with `{ closeCode, reason }` after a clean close; rejects
    /// after any other end.
    #[wasm_bindgen(method, getter)]
    pub(super) fn closed(this: &WebSocketStream) -> Promise;

    /// `close({ closeCode, reason })`, or `close()` with `undefined`.
    #[wasm_bindgen(method, catch)]
    pub(super) fn close(this: &WebSocketStream, info: &JsValue) -> Result<(), JsValue>;

    /// A `ReadableStream`'s default reader.
    #[derive(Debug, Clone)]
    #[wasm_bindgen(js_name = ReadableStreamDefaultReader)]
    pub(super) type StreamReader;

    /// The next chunk: `{ value, done }`.
    #[wasm_bindgen(method)]
    pub(super) fn read(this: &StreamReader) -> Promise;

    /// A `WritableStream`'s default writer.
    #[derive(Debug, Clone)]
    #[wasm_bindgen(js_name = WritableStreamDefaultWriter)]
    pub(super) type StreamWriter;

    /// Queues a chunk (a string or bytes); resolves once the stream took it
    /// on (for `WebSocketStream`: once the browser sent it on its way).
    #[wasm_bindgen(method, catch)]
    pub(super) fn write(this: &StreamWriter, chunk: &JsValue) -> Result<Promise, JsValue>;
}

/// Whether the page's global scope has `WebSocketStream`.
pub(super) fn available() -> bool {
    Reflect::has(&js_sys::global(), &JsValue::from_str("WebSocketStream")).unwrap_or(false)
}

/// A property of a JavaScript object (`undefined` if absent).
pub(super) fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// A plain object with the given properties.
pub(super) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

/// Calls the method `name` of `object` without arguments (the stream
/// objects' `getReader`/`getWriter`, which need no typed binding).
pub(super) fn call0(object: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    field(object, name).dyn_into::<js_sys::Function>()?.call0(object)
}
