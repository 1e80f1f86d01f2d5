//! The console's settings and operations pages in a real browser (headless Chromium, the real
//! `complaint-desk` binary, the simulators, a real SMTP sink): one test binary, a module per
//! page group, each test its own server and browser.

mod accounts;
mod notifications;
mod operations;
mod violations;
