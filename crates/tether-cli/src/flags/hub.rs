//! The flags of `tether hub`, and the settings of the hub they make.

use clap::Args;
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
    /// Bytes waiting for one member before it is closed with 1013 (a slow consumer).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub queue_bytes: usize,
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
            .queue(self.queue_bytes, MemberLimits::default().overflow_code);
        HubConfig::default().history(self.history).member(limits)
    }

    /// Where the rooms live.
    pub fn backplane(&self) -> Backplane {
        match &self.redis {
            Some(url) => Backplane::Redis(url.clone()),
            None => Backplane::Local,
        }
    }
}
