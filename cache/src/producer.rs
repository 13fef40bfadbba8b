//! Who produced an action entry: host, user, platform and tool version.

use std::fs;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producer {
    pub host: String,
    pub user: String,
    pub os: String,
    pub arch: String,
    pub tool_version: String,
}

impl Producer {
    /// Describes this process. Fields that cannot be found are "unknown".
    pub fn current(tool_version: &str) -> Producer {
        Producer {
            host: hostname().unwrap_or_else(unknown),
            user: first_env(&["USER", "LOGNAME"]).unwrap_or_else(unknown),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            tool_version: tool_version.to_string(),
        }
    }
}

fn unknown() -> String {
    "unknown".to_string()
}

fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| first_env(&["HOSTNAME"]))
}

fn first_env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_filled() {
        let p = Producer::current("1.2.3");
        assert_eq!(p.tool_version, "1.2.3");
        assert!(!p.host.is_empty() && !p.user.is_empty());
        assert_eq!(p.os, std::env::consts::OS);
    }
}
