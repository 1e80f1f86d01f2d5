//! The machine the figures came from, the load on it, CPU time of processes from `/proc`, and
//! the OpenSSL floor (one RSA-2048 verify plus one AES-256-GCM pass over a callback body).

use std::process::Command;
use std::time::Duration;

/// `nproc`, the CPU model and the memory, on one line.
pub fn description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{cores} cores ({model}), {:.1} GiB memory",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

/// The output of `uptime` (time, up, users, load average).
pub fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "uptime unavailable".into())
}

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of `pid` from `/proc/<pid>/stat`, including its waited-for children.
fn stat_ticks(pid: u32) -> Option<(u64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let ppid = f.get(1)?.parse().ok()?;
    let sum = [11, 12, 13, 14]
        .iter()
        .map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum();
    Some((sum, ppid))
}

/// CPU time used so far by `pid` and every live child of it (one level: gunicorn's workers).
pub fn cpu_time(pid: u32) -> Duration {
    let mut ticks = stat_ticks(pid).map(|(t, _)| t).unwrap_or(0);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.filter_map(Result::ok) {
            let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((t, ppid)) = stat_ticks(child)
                && ppid == pid
            {
                ticks += t;
            }
        }
    }
    Duration::from_secs_f64(ticks as f64 / TICKS_PER_SEC)
}

/// CPU time used so far by this process (the load generator and the in-process simulators).
pub fn own_cpu_time() -> Duration {
    cpu_time(std::process::id())
}

/// What OpenSSL does on this machine: RSA-2048 verifications per second and AES-256-GCM bytes
/// per second at a block size near a callback body.
#[derive(Debug, Clone, Copy)]
pub struct OpensslFloor {
    pub rsa2048_verify_per_s: f64,
    pub aes_gcm_bytes_per_s: f64,
    pub aes_block: usize,
}

impl OpensslFloor {
    /// One verify plus one decryption of `body_bytes`.
    pub fn per_callback(&self, body_bytes: usize) -> Duration {
        Duration::from_secs_f64(
            1.0 / self.rsa2048_verify_per_s + body_bytes as f64 / self.aes_gcm_bytes_per_s,
        )
    }
}

/// Run `openssl speed -seconds 2 rsa2048` and `openssl speed -seconds 2 -bytes N -evp
/// aes-256-gcm` (about 12 s).
pub fn openssl_floor(body_bytes: usize) -> anyhow::Result<OpensslFloor> {
    let block = body_bytes.max(16);
    let rsa = Command::new("openssl")
        .args(["speed", "-seconds", "2", "rsa2048"])
        .output()?;
    let aes = Command::new("openssl")
        .args(["speed", "-seconds", "2", "-bytes", &block.to_string()])
        .args(["-evp", "aes-256-gcm"])
        .output()?;
    let rsa_text = String::from_utf8_lossy(&rsa.stdout);
    let aes_text = String::from_utf8_lossy(&aes.stdout);
    Ok(OpensslFloor {
        rsa2048_verify_per_s: parse_rsa_verify(&rsa_text)
            .ok_or_else(|| anyhow::anyhow!("no rsa 2048 line in openssl speed:\n{rsa_text}"))?,
        aes_gcm_bytes_per_s: parse_evp_rate(&aes_text, "aes-256-gcm")
            .ok_or_else(|| anyhow::anyhow!("no aes-256-gcm line in openssl speed:\n{aes_text}"))?,
        aes_block: block,
    })
}

/// `rsa 2048 bits 0.000257s 0.000014s 3886.2 70678.3`: after the times (which end in `s`)
/// come the rates, sign/s then verify/s (OpenSSL 3 builds may add encrypt and decrypt rates).
fn parse_rsa_verify(text: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))
        .find_map(|l| {
            l.split_whitespace()
                .skip(3)
                .filter_map(|t| t.parse::<f64>().ok())
                .nth(1)
        })
}

/// `aes-256-gcm  412345.67k` (thousands of bytes per second per block size; one size asked
/// for): the last figure of the cipher's line, in bytes per second.
fn parse_evp_rate(text: &str, cipher: &str) -> Option<f64> {
    let line = text.lines().rfind(|l| {
        l.trim_start()
            .to_ascii_lowercase()
            .starts_with(&cipher.to_ascii_lowercase())
    })?;
    let v = line.split_whitespace().last()?;
    let k: f64 = v.strip_suffix('k').unwrap_or(v).parse().ok()?;
    Some(k * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openssl_speed_output() {
        let v3 = "                  sign    verify    sign/s verify/s\nrsa 2048 bits 0.000257s 0.000014s   3886.2  70678.3\n";
        // Some OpenSSL 3 builds add encrypt and decrypt columns after verify/s.
        let wide = "rsa  2048 bits 0.000702s 0.000021s 0.000022s 0.000690s   1424.5  47619.0  45454.5   1449.3\n";
        assert_eq!(parse_rsa_verify(v3), Some(70678.3));
        assert_eq!(parse_rsa_verify(wide), Some(47619.0));
        assert_eq!(parse_rsa_verify("rsa 2048 bits\n"), None);
        let aes = "type            512 bytes\nAES-256-GCM    2000000.50k\n";
        assert_eq!(parse_evp_rate(aes, "aes-256-gcm"), Some(2_000_000_500.0));
        assert_eq!(parse_evp_rate("nothing", "aes-256-gcm"), None);
        let floor = OpensslFloor {
            rsa2048_verify_per_s: 50_000.0,
            aes_gcm_bytes_per_s: 1_000_000_000.0,
            aes_block: 1000,
        };
        assert_eq!(floor.per_callback(1000), Duration::from_micros(21));
    }
}
