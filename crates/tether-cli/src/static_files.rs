//! The files of `tether echo --static DIR`, served over plain HTTP on the
//! WebSocket port: a request path resolved inside DIR and nowhere else,
//! with the content type browsers insist on (`application/wasm` for
//! `WebAssembly.instantiateStreaming`, `text/javascript` for modules).

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Method, StatusCode};
use percent_encoding::percent_decode_str;

use crate::pages;

/// A directory whose files are served, by its canonical path.
#[derive(Debug, Clone)]
pub struct StaticDir {
    root: PathBuf,
}

/// Why a request path names no file that may be served.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// Not a path this server resolves: `..`, an encoded `/`, `\` or NUL,
    /// invalid UTF-8 after decoding, no leading `/` (400).
    BadPath,
    /// Missing, not a regular file, or outside the directory once symlinks
    /// are followed (404: the answer does not tell which).
    NotFound,
    /// A directory named without the final `/` (301 to the name with it).
    Directory,
}

impl StaticDir {
    /// The directory `dir`, which must exist; its canonical path is the
    /// bound every served file is checked against.
    pub fn new(dir: &Path) -> Result<Self, String> {
        let root = dir.canonicalize().map_err(|e| format!("--static {}: {e}", dir.display()))?;
        if !root.is_dir() {
            return Err(format!("--static {}: not a directory", dir.display()));
        }
        Ok(Self { root })
    }

    /// Answers a plain HTTP request: the file for GET and HEAD (`index.html`
    /// for a directory, and a redirect to `DIR/` for `DIR`), 400 for a path
    /// that tries to leave the directory, 404 for what is not there, 405 for
    /// other methods.
    ///
    /// The file is read synchronously: the server's responder is a plain
    /// function, and the files of a web app are small and local.
    pub fn respond(&self, request: &http::Request<()>) -> http::Response<Bytes> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served here\n");
            response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let path = request.uri().path();
        let file = match self.resolve(path) {
            Ok(file) => file,
            Err(Refused::BadPath) => return text(StatusCode::BAD_REQUEST, "bad path\n"),
            Err(Refused::NotFound) => return text(StatusCode::NOT_FOUND, "not found\n"),
            Err(Refused::Directory) => {
                // `/app` -> `/app/`, so the page's relative URLs resolve inside it.
                let mut response = text(StatusCode::MOVED_PERMANENTLY, "moved\n");
                if let Ok(location) = http::HeaderValue::from_str(&[path, "/"].concat()) {
                    response.headers_mut().insert(http::header::LOCATION, location);
                }
                return response;
            }
        };
        match std::fs::read(&file) {
            Ok(body) => {
                let mut response = pages::response(200, content_type(&file), body.into());
                response.headers_mut().insert("x-content-type-options", http::HeaderValue::from_static("nosniff"));
                response
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n"),
        }
    }

    /// The canonical path of the regular file `path` names inside the
    /// directory. Each segment is decoded on its own, so `%2f` cannot join
    /// two, and the result is canonicalized, so a symlink cannot lead out.
    fn resolve(&self, path: &str) -> Result<PathBuf, Refused> {
        let rest = path.strip_prefix('/').ok_or(Refused::BadPath)?;
        let mut file = self.root.clone();
        for raw in rest.split('/') {
            let segment = percent_decode_str(raw).decode_utf8().map_err(|_| Refused::BadPath)?;
            match &*segment {
                "" | "." => {}
                ".." => return Err(Refused::BadPath),
                s if s.contains(['/', '\\', '\0']) => return Err(Refused::BadPath),
                s => file.push(s),
            }
        }
        let mut file = file.canonicalize().map_err(|_| Refused::NotFound)?;
        if file.is_dir() {
            if !path.ends_with('/') {
                return Err(if file.starts_with(&self.root) { Refused::Directory } else { Refused::NotFound });
            }
            file = file.join("index.html").canonicalize().map_err(|_| Refused::NotFound)?;
        }
        if !file.starts_with(&self.root) || !file.is_file() {
            return Err(Refused::NotFound);
        }
        Ok(file)
    }
}

/// A short plain-text answer.
fn text(status: StatusCode, body: &'static str) -> http::Response<Bytes> {
    pages::response(status.as_u16(), "text/plain; charset=utf-8", Bytes::from_static(body.as_bytes()))
}

/// The content type of a file, by its extension.
fn content_type(file: &Path) -> &'static str {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    /// A directory `site/` holding an app, next to a secret outside it.
    struct Site {
        _tmp: tempfile::TempDir,
        dir: StaticDir,
    }

    fn site() -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("site");
        fs::create_dir_all(site.join("pkg")).unwrap();
        fs::write(site.join("index.html"), "<!doctype html>app").unwrap();
        fs::write(site.join("pkg/app.js"), "export default 1;").unwrap();
        fs::write(site.join("pkg/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
        fs::write(site.join("a b.json"), "{}").unwrap();
        fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
        symlink(tmp.path().join("secret.txt"), site.join("leak.txt")).unwrap();
        symlink(tmp.path(), site.join("up")).unwrap();
        symlink(site.join("pkg/app.js"), site.join("inside.js")).unwrap();
        let dir = StaticDir::new(&site).unwrap();
        Site { _tmp: tmp, dir }
    }

    fn get(site: &Site, method: Method, path: &str) -> http::Response<Bytes> {
        site.dir.respond(&http::Request::builder().method(method).uri(path).body(()).unwrap())
    }

    fn status(site: &Site, path: &str) -> u16 {
        get(site, Method::GET, path).status().as_u16()
    }

    fn kind(response: &http::Response<Bytes>) -> &str {
        response.headers()["content-type"].to_str().unwrap()
    }

    #[test]
    fn serves_files_with_their_content_types() {
        let site = site();
        let index = get(&site, Method::GET, "/");
        assert_eq!((index.status().as_u16(), kind(&index)), (200, "text/html; charset=utf-8"));
        assert_eq!(&index.body()[..], b"<!doctype html>app");
        let wasm = get(&site, Method::GET, "/pkg/app_bg.wasm");
        assert_eq!((kind(&wasm), &wasm.body()[..4]), ("application/wasm", &b"\0asm"[..]));
        assert_eq!(wasm.headers()["x-content-type-options"], "nosniff");
        assert_eq!(kind(&get(&site, Method::GET, "/pkg/app.js?v=2")), "text/javascript; charset=utf-8");
        assert_eq!(kind(&get(&site, Method::HEAD, "/a%20b.json")), "application/json");
        assert_eq!(status(&site, "/pkg/"), 404, "a directory without index.html");
        let moved = get(&site, Method::GET, "/pkg");
        assert_eq!((moved.status().as_u16(), moved.headers()["location"].to_str().unwrap()), (301, "/pkg/"));
        assert_eq!(status(&site, "/./pkg//app.js"), 200);
        assert_eq!(status(&site, "/inside.js"), 200, "a symlink that stays inside");
    }

    #[test]
    fn nothing_outside_the_directory_is_reachable() {
        let site = site();
        for path in ["/../secret.txt", "/pkg/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt"] {
            assert_eq!(status(&site, path), 400, "{path}");
        }
        for path in ["/..%2fsecret.txt", "/%2fetc%2fpasswd", "/..%5csecret.txt", "/a%00b", "/%ff"] {
            assert_eq!(status(&site, path), 400, "{path}");
        }
        // An absolute path stays under the directory; symlinks out are not followed out.
        for path in ["//etc/passwd", "/etc/passwd", "/leak.txt", "/up/secret.txt", "/up", "/missing.wasm"] {
            assert_eq!(status(&site, path), 404, "{path}");
        }
        assert_eq!(status(&site, "*"), 400);
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let site = site();
        let post = get(&site, Method::POST, "/");
        assert_eq!(post.status(), 405);
        assert_eq!(post.headers()["allow"], "GET, HEAD");
    }

    #[test]
    fn the_directory_must_exist() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(StaticDir::new(&tmp.path().join("none")).unwrap_err().contains("--static"));
        fs::write(tmp.path().join("file"), "").unwrap();
        assert!(StaticDir::new(&tmp.path().join("file")).unwrap_err().contains("not a directory"));
    }
}
