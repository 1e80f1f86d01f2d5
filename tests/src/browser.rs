//! Headless Chromium for the browser tests, driven over WebDriver (chromedriver + fantoccini).
//!
//! [`Browser::start`] starts a `chromedriver` of its own on a free loopback port (it picks the
//! port itself: `--port=0`), in a process group of its own, and opens one WebDriver session with
//! headless Chromium and a fresh profile in a temporary directory. Dropping the [`Browser`]
//! kills the whole process group (chromedriver and every Chromium process it started) and
//! removes the profile. One browser per test: tests run in parallel threads, each with its own
//! chromedriver, port and profile.
//!
//! Every helper panics with the page's URL and a screenshot (`target/screenshots/`) when the
//! page is not as expected: a test reads as a list of steps, and a failure shows what the browser
//! showed.
//!
//! The programs: `chromedriver` from `CHROMEDRIVER`, else the `PATH`, else
//! `/usr/bin/chromedriver`; Chromium from `CHROMIUM`, else `/usr/bin/chromium` (Debian's
//! `chromium-driver` and `chromium`, which `./scripts/test` installs when missing). A missing one
//! fails the test: a browser test is never skipped in silence.

use fantoccini::elements::Element;
use fantoccini::{ClientBuilder, Locator};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini;
/// A cookie as the browser holds it (name, value, `HttpOnly`, `SameSite`, path, domain, ...).
pub type Cookie = fantoccini::cookies::Cookie<'static>;

/// How long [`Browser::wait_for`] and the other waits poll before they fail. Generous: the
/// machine may be busy with other tests; a wait returns as soon as its condition holds.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);
/// How long chromedriver may take to say it is listening.
const DRIVER_START_LIMIT: Duration = Duration::from_secs(30);

/// The phone screen the console is designed for (CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);
/// The desktop window of the screenshots (CSS pixels).
pub const DESKTOP: (u32, u32) = (1280, 800);

/// What to do when the browser is missing.
const INSTALL_HINT: &str = "the browser tests need headless Chromium and its WebDriver: install Debian's \
     `chromium` and `chromium-driver` (apt-get install chromium chromium-driver), or run \
     ./scripts/test, which installs them when missing (as root)";

/// The `chromedriver` to run: `CHROMEDRIVER`, else the first on `PATH`, else Debian's.
fn chromedriver_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMEDRIVER") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

/// The Chromium binary: `CHROMIUM`, else Debian's.
fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Where screenshots go: `<target>/screenshots/` (`CARGO_TARGET_DIR`, else the workspace's
/// `target/`; a relative `CARGO_TARGET_DIR` is read from the workspace root).
pub fn screenshot_dir() -> PathBuf {
    // The workspace root: this package lives in `<root>/tests`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    let target = match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(t) if t.is_absolute() => t,
        Some(t) => root.join(t),
        None => root.join("target"),
    };
    target.join("screenshots")
}

/// The running test's name (libtest names each test's thread after it), for failure shots.
fn test_name() -> String {
    let name = std::thread::current()
        .name()
        .unwrap_or("browser")
        .to_string();
    file_safe(&name)
}

/// `s` with everything but letters, digits, `-` and `_` turned into `_`.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A chromedriver process, leader of its own process group; killed with its group on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let program = chromedriver_path();
        if !program.is_file() {
            panic!("no chromedriver at {}: {INSTALL_HINT}", program.display());
        }
        let mut cmd = Command::new(&program);
        cmd.args(["--port=0", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: Chromium and its helpers join it, and one kill ends them all.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", program.display()));
        let (tx, rx) = std::sync::mpsc::channel::<Result<u16, String>>();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            panic!("chromedriver's output is not piped");
        };
        // chromedriver says "ChromeDriver was started successfully on port N." on stdout.
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let port = line
                    .split_once("started successfully on port ")
                    .map(|(_, rest)| rest.trim().trim_end_matches('.').parse::<u16>());
                match port {
                    // Read on after this, so that chromedriver never blocks on a full pipe.
                    Some(port) => {
                        let _ = tx.send(port.map_err(|e| format!("{line}: {e}")));
                    }
                    None => seen.push(line),
                }
            }
            let _ = tx.send(Err(format!("chromedriver ended: {}", seen.join(" | "))));
        });
        // Its stderr (and Chromium's, which it passes on), drained for as long as it runs so
        // that neither ever blocks on a full pipe; the last 8 KiB are kept for a failure.
        let err = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        {
            let err = err.clone();
            let mut stderr = stderr;
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                    let mut kept = err.lock().unwrap_or_else(|e| e.into_inner());
                    kept.extend_from_slice(&chunk[..n]);
                    let excess = kept.len().saturating_sub(8192);
                    kept.drain(..excess);
                }
            });
        }
        let mut driver = Driver { child, port: 0 };
        match rx.recv_timeout(DRIVER_START_LIMIT) {
            Ok(Ok(port)) => driver.port = port,
            Ok(Err(why)) => {
                let kept = err.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let stderr = String::from_utf8_lossy(&kept);
                panic!("chromedriver did not start ({why}) {stderr}");
            }
            Err(_) => panic!(
                "chromedriver ({}) did not say it was listening within {DRIVER_START_LIMIT:?}",
                program.display()
            ),
        }
        driver
    }

    /// SIGKILL to the whole group, then wait (a bounded while) until no process of it is left.
    fn kill(&mut self) {
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.wait();
        // Chromium's processes are not our children: poll until the group is gone (an orphan
        // left as a zombie by a PID 1 that does not reap would keep it, hence the limit).
        let start = Instant::now();
        while rustix::process::test_kill_process_group(group).is_ok()
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Chrome DevTools Protocol command through chromedriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// One headless Chromium with its own chromedriver and profile.
pub struct Browser {
    client: fantoccini::Client,
    // Field order is drop order: the driver (and Chromium) dies before its profile is removed.
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a headless Chromium session (a 1280×800 desktop window; see
    /// [`Browser::phone`]).
    pub async fn start() -> Browser {
        let chromium = chromium_path();
        if !chromium.is_file() {
            panic!("no Chromium at {}: {INSTALL_HINT}", chromium.display());
        }
        let profile = tempfile::Builder::new()
            .prefix("desk-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot make a Chromium profile directory: {e}"));
        let driver = Driver::start();
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-extensions".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium.to_string_lossy(), "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no WebDriver session with {} through chromedriver: {e}; {INSTALL_HINT}",
                    chromium.display()
                )
            });
        let browser = Browser {
            client,
            driver,
            _profile: profile,
        };
        browser.viewport(DESKTOP, false).await;
        browser
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &fantoccini::Client {
        &self.client
    }

    /// The chromedriver's port (each browser has its own).
    pub fn driver_port(&self) -> u16 {
        self.driver.port
    }

    /// A 390×844 phone: the viewport is 390 CSS pixels wide (`window.innerWidth == 390` on a
    /// page with `<meta name="viewport" content="width=device-width">`), touch and mobile
    /// layout on, one device pixel per CSS pixel (a 390-wide screenshot).
    pub async fn phone(&self) {
        self.viewport(PHONE, true).await;
    }

    /// Back to the 1280×800 desktop viewport.
    pub async fn desktop(&self) {
        self.viewport(DESKTOP, false).await;
    }

    /// The viewport through the DevTools protocol's device metrics (exact CSS pixels, whatever
    /// the window's decorations).
    async fn viewport(&self, (width, height): (u32, u32), mobile: bool) {
        let params = serde_json::json!({
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": mobile,
        });
        self.cdp("Emulation.setDeviceMetricsOverride", params).await;
        let touch = serde_json::json!({ "enabled": mobile, "maxTouchPoints": 5 });
        self.cdp("Emulation.setTouchEmulationEnabled", touch).await;
    }

    async fn cdp(&self, cmd: &'static str, params: serde_json::Value) {
        if let Err(e) = self.client.issue_cmd(Cdp { cmd, params }).await {
            panic!("DevTools command {cmd} refused: {e}");
        }
    }

    /// Open `url` (absolute, e.g. `server.url("/console/")`) and wait for it to load.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(&format!("cannot open {url}: {e}")).await
        }
    }

    /// The page's current URL.
    pub async fn url(&self) -> url::Url {
        match self.client.current_url().await {
            Ok(u) => u,
            Err(e) => panic!("the browser has no current URL: {e}"),
        }
    }

    /// The element `css` selects, now (no wait).
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => self.fail(&format!("no element `{css}`: {e}")).await,
        }
    }

    /// Every element `css` selects, now (none is an empty list).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        match self.client.find_all(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => self.fail(&format!("cannot look for `{css}`: {e}")).await,
        }
    }

    /// Whether `css` selects anything now.
    pub async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// Click the element `css` selects (waits for it first).
    pub async fn click(&self, css: &str) {
        let el = self.wait_for(css).await;
        if let Err(e) = el.click().await {
            self.fail(&format!("cannot click `{css}`: {e}")).await
        }
    }

    /// Type `value` into the field `css` selects (waits for it, clears it first).
    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.wait_for(css).await;
        if let Err(e) = el.clear().await {
            self.fail(&format!("cannot clear `{css}`: {e}")).await
        }
        if let Err(e) = el.send_keys(value).await {
            self.fail(&format!("cannot type into `{css}`: {e}")).await
        }
    }

    /// The element `css` selects, polling until it appears; after [`WAIT_LIMIT`] the test
    /// fails with the page's URL and a screenshot.
    pub async fn wait_for(&self, css: &str) -> Element {
        let start = Instant::now();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                return el;
            }
            if start.elapsed() > WAIT_LIMIT {
                self.fail(&format!("`{css}` did not appear within {WAIT_LIMIT:?}"))
                    .await
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Poll until the page's path is `path` (e.g. after a form's redirect); fails like
    /// [`Browser::wait_for`].
    pub async fn wait_for_path(&self, path: &str) -> url::Url {
        let start = Instant::now();
        loop {
            let url = self.url().await;
            if url.path() == path {
                return url;
            }
            if start.elapsed() > WAIT_LIMIT {
                self.fail(&format!(
                    "the page did not reach {path} within {WAIT_LIMIT:?}"
                ))
                .await
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the element `css` selects (waits for it).
    pub async fn text(&self, css: &str) -> String {
        let el = self.wait_for(css).await;
        match el.text().await {
            Ok(t) => t,
            Err(e) => self.fail(&format!("no text for `{css}`: {e}")).await,
        }
    }

    /// The page's whole HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        match self.client.source().await {
            Ok(s) => s,
            Err(e) => self.fail(&format!("no page source: {e}")).await,
        }
    }

    /// Run `script` (a function body: `return ...`) in the page and give its result.
    pub async fn execute(&self, script: &str) -> serde_json::Value {
        match self.client.execute(script, Vec::new()).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("script `{script}` failed: {e}")).await,
        }
    }

    /// `window.innerWidth` and `window.innerHeight`.
    pub async fn inner_size(&self) -> (u64, u64) {
        let v = self
            .execute("return [window.innerWidth, window.innerHeight];")
            .await;
        match (v[0].as_u64(), v[1].as_u64()) {
            (Some(w), Some(h)) => (w, h),
            _ => panic!("the page's inner size is not two numbers: {v}"),
        }
    }

    /// Every cookie the browser holds for the current page's URL.
    pub async fn cookies(&self) -> Vec<Cookie> {
        match self.client.get_all_cookies().await {
            Ok(c) => c,
            Err(e) => self.fail(&format!("cannot read cookies: {e}")).await,
        }
    }

    /// The cookie named `name` for the current page's URL, if the browser holds one.
    pub async fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().await.into_iter().find(|c| c.name() == name)
    }

    /// Save what the viewport shows as `<target>/screenshots/<name>.png` and give the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!("cannot take screenshot {name}: {e}"),
        };
        let dir = screenshot_dir();
        let path = dir.join(format!("{}.png", file_safe(name)));
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png)) {
            panic!("cannot write {}: {e}", path.display());
        }
        path
    }

    /// Fail the test: `what`, the page's URL and a screenshot named after the test.
    pub async fn fail<T>(&self, what: &str) -> T {
        let url = match self.client.current_url().await {
            Ok(u) => u.to_string(),
            Err(e) => format!("(no URL: {e})"),
        };
        let shot = match self.client.screenshot().await {
            Ok(png) => {
                let dir = screenshot_dir();
                let path = dir.join(format!("{}-failure.png", test_name()));
                match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png)) {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("(not saved: {e})"),
                }
            }
            Err(e) => format!("(none: {e})"),
        };
        panic!("{what}\n  page: {url}\n  screenshot: {shot}")
    }
}

/// The width and height of the PNG at `path` (from its IHDR chunk); None if it is not one.
pub fn png_size(path: &Path) -> Option<(u32, u32)> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.get(..8)? != b"\x89PNG\r\n\x1a\n" || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((w, h))
}
