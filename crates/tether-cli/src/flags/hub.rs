//! The flags of `tether hub`, and the settings of the hub they make.

use clap::Args;
use tether::CloseCode;
use tether_hub::{HubConfig, MemberLimits};

use super::serve::{Listen, ServeOptions};

// The flags of `tether hub` (a `///` comment here would replace the
// subcommand's help text).
#[derive(Args, Debug)]
pub struct HubArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// Messages kept per room for members that resume with ?since=EPOCH:OFFSET.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub history: usize,
    /// Bytes waiting for one member before it is closed with --overflow-code
    /// (a slow consumer), or, in a --lossy room, loses its oldest messages.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub queue_bytes: usize,
    /// The close code for a member over --queue-bytes: 1013 (try again
    /// later) or 1008 (policy violation), or any code an endpoint may send.
    #[arg(long, value_name = "CODE", default_value_t = 1013, value_parser = close_code)]
    pub overflow_code: u16,
    /// Make room NAME lossy (repeatable; a trailing * matches a prefix, as
    /// in 'prices:*'): a member too slow for it loses its oldest
    /// undelivered messages instead of being closed.
    #[arg(long, value_name = "NAME", value_parser = room_pattern)]
    pub lossy: Vec<String>,
    /// The largest message a member may publish; larger: closed with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 10)]
    pub max_message: usize,
    /// Messages per second a member may publish (bursts of as many);
    /// faster: closed with 1008. No limit by default.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub publish_rate: Option<u32>,
    /// Share rooms with every hub on this Redis (redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]):
    /// Redis orders each room's messages and keeps their history; while it
    /// is away, rooms go on locally and the hub reconnects by itself.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// With a rediss:// URL: trust only the CA certificates in this PEM
    /// file for Redis's certificate (default: the system's roots).
    #[arg(long, value_name = "FILE", requires = "redis")]
    pub redis_ca: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub serve: ServeOptions,
}

/// Where the hub's rooms live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backplane {
    /// In this process only: members of one `tether hub` share rooms.
    Local,
    /// Shared by every hub on this Redis (`--redis URL`).
    Redis(String),
}

impl HubArgs {
    /// The hub's settings: history and member limits.
    pub fn hub_config(&self) -> HubConfig {
        let limits = MemberLimits::default()
            .max_message(self.max_message)
            .publish_rate(self.publish_rate)
            .queue(self.queue_bytes, CloseCode(self.overflow_code));
        let mut config = HubConfig::default().history(self.history).member(limits);
        if self.serve.no_deflate {
            config = config.deflate(None);
        }
        self.lossy.iter().fold(config, |config, room| config.lossy_room(room))
    }

    /// Where the rooms live.
    pub fn backplane(&self) -> Backplane {
        match &self.redis {
            Some(url) => Backplane::Redis(url.clone()),
            None => Backplane::Local,
        }
    }
}

/// A room name, or a prefix of one followed by `*`.
fn room_pattern(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('*').unwrap_or(text);
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    if name.len() <= 100 && name.chars().all(valid) && (text.ends_with('*') || !name.is_empty()) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text}: a room name (1 to 100 of A-Z a-z 0-9 - _ . :), or the start of one followed by *"))
    }
}

/// A close code an endpoint may send (1000–1003, 1007–1014, 3000–4999).
fn close_code(text: &str) -> Result<u16, String> {
    let code: u16 = text.parse().map_err(|_| format!("{text}: not a close code"))?;
    if CloseCode(code).is_sendable() {
        Ok(code)
    } else {
        Err(format!("{code}: not a code an endpoint may send"))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::flags::{Cli, Command};

    fn hub(args: &[&str]) -> Result<super::HubArgs, clap::Error> {
        let cli = Cli::try_parse_from(["tether", "hub"].iter().chain(args))?;
        match cli.command {
            Command::Hub(args) => Ok(args),
            _ => unreachable!("parsed as hub"),
        }
    }

    #[test]
    fn the_member_flags_make_the_hubs_settings() {
        let args =
            hub(&["--overflow-code", "1008", "--lossy", "prices:*", "--lossy", "ticker", "--no-deflate"]).unwrap();
        let config = args.hub_config();
        assert_eq!(config.member.overflow_code, tether::CloseCode::POLICY_VIOLATION);
        assert_eq!(config.lossy_rooms, ["prices:*", "ticker"]);
        assert!(config.deflate.is_none());
        let defaults = hub(&[]).unwrap().hub_config();
        assert_eq!(defaults.member.overflow_code, tether::CloseCode::TRY_AGAIN_LATER);
        assert!(defaults.lossy_rooms.is_empty() && defaults.deflate.is_some());
        for bad in ["prices/*", "a*b", "", "x y"] {
            assert!(hub(&["--lossy", bad]).is_err(), "{bad:?}");
        }
        assert!(hub(&["--overflow-code", "1005"]).is_err());
    }
}
