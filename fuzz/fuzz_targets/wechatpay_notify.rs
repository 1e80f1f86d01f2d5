#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::wechatpay_notify(data));
