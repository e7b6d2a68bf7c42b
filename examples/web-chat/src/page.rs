//! The page: the elements of `index.html` (the same ids and texts as the
//! JavaScript page of `tether echo`) driven from Rust through web-sys, with
//! the sessions of [`crate::session`] running on the browser backend.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use tether::Message;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Blob, BlobPropertyBag, Document, Element, Event, HtmlButtonElement, HtmlElement, HtmlImageElement};
use web_sys::{HtmlInputElement, Url};

use crate::session::{self, Failure, PNG_MAGIC};

/// What a DOM call gives back on failure: the exception it threw.
type Result<T = ()> = std::result::Result<T, JsValue>;

/// Starts the page once the module is loaded: wires the buttons and connects.
#[wasm_bindgen(start)]
pub fn start() -> Result {
    let window = web_sys::window().ok_or("no window")?;
    let location = window.location();
    let page = Rc::new(Page {
        document: window.document().ok_or("no document")?,
        base: session::socket_base(&location.protocol()?, &location.host()?),
        sender: RefCell::new(None),
    });
    page.wire()?;
    page.connect();
    Ok(())
}

/// The page's state.
struct Page {
    document: Document,
    /// `ws://` or `wss://` and the host that served the page.
    base: String,
    /// The sending half of the open session, if one is open.
    sender: RefCell<Option<tether::Sender>>,
}

impl Page {
    /// Listens to the form, the buttons and the file field.
    fn wire(self: &Rc<Self>) -> Result {
        let page = Rc::clone(self);
        self.on("send-form", "submit", move |event| {
            event.prevent_default();
            page.report(page.send_typed());
        })?;
        let page = Rc::clone(self);
        self.on("image", "click", move |_| page.get_image())?;
        let page = Rc::clone(self);
        self.on("file", "change", move |_| page.send_file())?;
        let page = Rc::clone(self);
        self.on("reconnect", "click", move |_| page.connect())
    }

    /// Runs a chat session with the server's `/` until it ends, showing
    /// every message, then how it ended: a close, or "Network error".
    fn connect(self: &Rc<Self>) {
        let page = Rc::clone(self);
        spawn_local(async move {
            let url = [&page.base, "/"].concat();
            page.set_state(&["connecting to ", &url, " …"].concat(), "connecting");
            let opened = |sender| {
                page.sender.replace(Some(sender));
                page.set_state(&["open: ", &url].concat(), "open");
                page.set_connected(true);
            };
            let outcome = session::chat(&url, opened, |message| page.report(page.show("echo: ", message))).await;
            page.sender.replace(None);
            page.set_connected(false);
            match outcome {
                Ok(frame) => {
                    let code = frame.map_or_else(|| "no code".to_owned(), |f| f.to_string());
                    page.set_state(&["closed: ", &code].concat(), "closed");
                }
                Err(failure) => {
                    let cause = match &failure {
                        Failure::Connect(e) => (["cannot connect to ", &url].concat(), e),
                        Failure::Lost(e) => (["connection to ", &url, " lost"].concat(), e),
                    };
                    let (cause, error) = cause;
                    page.set_state(&["Network error: ", &cause, " (", &error.to_string(), ")"].concat(), "error");
                    page.report(page.line(&["Network error: ", &cause].concat(), "error").map(drop));
                }
            }
        });
    }

    /// Sends the message field's text, if a session is open, and empties
    /// the field. `try_send`: a callback cannot wait, and a full send
    /// buffer is said on the page rather than queued without bound.
    fn send_typed(&self) -> Result {
        let input: HtmlInputElement = self.element("message")?;
        let text = input.value();
        let sent = match &*self.sender.borrow() {
            Some(sender) => sender.try_send(Message::text(text.clone())),
            None => return Ok(()),
        };
        match sent {
            Ok(()) => {
                self.line(&["you: ", &text].concat(), "sent")?;
                input.set_value("");
                input.focus()
            }
            Err(e) => self.line(&["not sent: ", &e.to_string()].concat(), "error").map(drop),
        }
    }

    /// Sends the chosen file as one binary message, waiting for room in
    /// the send buffer if the file is large.
    fn send_file(self: &Rc<Self>) {
        let page = Rc::clone(self);
        spawn_local(async move {
            let sent = async {
                let input: HtmlInputElement = page.element("file")?;
                let Some(file) = input.files().and_then(|files| files.get(0)) else { return Ok(()) };
                let bytes = Uint8Array::new(&JsFuture::from(file.array_buffer()).await?).to_vec();
                let Some(sender) = page.sender.borrow().clone() else { return Ok(()) };
                input.set_value("");
                let size = bytes.len().to_string();
                match sender.send(Message::binary(bytes)).await {
                    Ok(()) => page.line(&["you: <binary ", &size, " bytes> ", &file.name()].concat(), "sent"),
                    Err(e) => page.line(&["not sent: ", &e.to_string()].concat(), "error"),
                }
                .map(drop)
            };
            page.report(sent.await);
        });
    }

    /// Asks the server's `/image` for its picture and shows it.
    fn get_image(self: &Rc<Self>) {
        let page = Rc::clone(self);
        spawn_local(async move {
            let url = [&page.base, "/image"].concat();
            let shown = match session::first_message(&url).await {
                Ok(Some(message)) => page.show("image: ", message),
                Ok(None) => page.line("image: the server closed without sending one", "error").map(drop),
                Err(e) => page
                    .line(&["Network error: cannot get ", &url, " (", &e.to_string(), ")"].concat(), "error")
                    .map(drop),
            };
            page.report(shown);
        });
    }

    /// Shows a message received: text as a line, binary as its size, and
    /// a PNG as the picture it is.
    fn show(&self, prefix: &str, message: Message) -> Result {
        match message {
            Message::Text(text) => self.line(&[prefix, &text].concat(), "echo").map(drop),
            Message::Binary(bytes) => {
                let entry = self.line(&[prefix, "<binary ", &bytes.len().to_string(), " bytes>"].concat(), "binary")?;
                if bytes.starts_with(PNG_MAGIC) {
                    let picture = self.picture(&bytes)?;
                    entry.append_child(&picture)?;
                }
                Ok(())
            }
        }
    }

    /// An `<img>` of PNG bytes, through a blob URL released once loaded.
    fn picture(&self, png: &[u8]) -> Result<HtmlImageElement> {
        let options = BlobPropertyBag::new();
        options.set_type("image/png");
        let blob = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&Uint8Array::from(png)), &options)?;
        let url = Url::create_object_url_with_blob(&blob)?;
        let picture: HtmlImageElement = self.document.create_element("img")?.dyn_into()?;
        picture.set_class_name("picture");
        picture.set_alt("PNG received as a binary message");
        picture.set_src(&url);
        let release = Closure::once_into_js(move || Url::revoke_object_url(&url));
        picture.set_onload(Some(release.unchecked_ref()));
        Ok(picture)
    }

    /// Adds a line of `kind` (a CSS class) to the log and scrolls to it.
    fn line(&self, text: &str, kind: &str) -> Result<Element> {
        let entry = self.document.create_element("div")?;
        entry.set_class_name(&["line ", kind].concat());
        entry.set_text_content(Some(text));
        let log: Element = self.element("log")?;
        log.append_child(&entry)?;
        log.set_scroll_top(log.scroll_height());
        Ok(entry)
    }

    /// The state line's text and class.
    fn set_state(&self, text: &str, kind: &str) {
        let state = self.element::<Element>("state").map(|state| {
            state.set_text_content(Some(text));
            state.set_class_name(kind);
        });
        self.report(state);
    }

    /// Enables sending while connected; offers to reconnect otherwise.
    fn set_connected(&self, connected: bool) {
        let set = || -> Result {
            self.element::<HtmlButtonElement>("send")?.set_disabled(!connected);
            self.element::<HtmlInputElement>("file")?.set_disabled(!connected);
            self.element::<HtmlElement>("reconnect")?.set_hidden(connected);
            Ok(())
        };
        self.report(set());
    }

    /// The element with `id`, as the type it is.
    fn element<T: JsCast>(&self, id: &str) -> Result<T> {
        let element = self.document.get_element_by_id(id).ok_or_else(|| JsValue::from_str(id))?;
        element.dyn_into().map_err(JsValue::from)
    }

    /// Calls `handler` on each `event` of the element with `id`.
    fn on(&self, id: &str, event: &str, handler: impl FnMut(Event) + 'static) -> Result {
        let handler = Closure::<dyn FnMut(Event)>::new(handler);
        self.element::<Element>(id)?.add_event_listener_with_callback(event, handler.as_ref().unchecked_ref())?;
        // The listeners live as long as the page.
        handler.forget();
        Ok(())
    }

    /// A DOM call that failed (the page's markup lacks an element):
    /// reported as an uncaught error would be, without unwinding Rust code.
    fn report(&self, result: Result) {
        if let Err(e) = result {
            web_sys::console::error_1(&e);
        }
    }
}
