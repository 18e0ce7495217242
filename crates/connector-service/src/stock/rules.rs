//! Allocation rules of a channel connection (`settings.stock`): how much of the ledger's
//! available quantity the channel may list, which warehouses feed it, how stock reaches it and
//! what happens when someone changes its quantity behind marketsync's back.

use serde::{Deserialize, Serialize};

/// How quantities reach a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// Every change is pushed at once (coalesced per sku, inside the channel's rate budget).
    #[default]
    Realtime,
    /// Pending changes are pushed together every `push_interval_secs` (the classic schedule).
    Scheduled,
    /// Never pushed (the channel is read only for stock).
    Off,
}

/// What a quantity changed on the channel by someone else becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftPolicy {
    /// The ledger's quantity is pushed again.
    #[default]
    Overwrite,
    /// The difference is taken into the ledger as an adjustment (cause `drift`).
    Accept,
}

/// `settings.stock` of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StockRules {
    /// Units held back from the channel.
    pub safety_buffer: i64,
    /// Share of what remains that the channel may list, in percent (rounded down).
    pub percent: u32,
    /// Most units listed at once (none: no cap).
    pub max_listed: Option<i64>,
    /// At or below this many units the channel lists 0 (ends the listing).
    pub end_listing_threshold: i64,
    /// Ledger warehouses that feed this channel (empty: every warehouse).
    pub warehouses: Vec<String>,
    /// Channel locations quantities are written to, for platforms that keep stock per location
    /// (empty: the locations the channel reports for the sku, else the feeding warehouses).
    pub locations: Vec<String>,
    /// How quantities reach the channel.
    pub push: PushMode,
    /// Interval of [`PushMode::Scheduled`], in seconds.
    pub push_interval_secs: u64,
    /// Most skus sent per push (default: by platform, see [`StockRules::batch`]).
    pub push_batch: Option<u32>,
    /// What drift becomes.
    pub drift_policy: DriftPolicy,
    /// A difference must still be there after this many seconds to count as drift (an order
    /// placed on the channel and not imported yet is not drift).
    pub drift_grace_secs: u64,
}

impl Default for StockRules {
    fn default() -> Self {
        Self {
            safety_buffer: 0,
            percent: 100,
            max_listed: None,
            end_listing_threshold: 0,
            warehouses: Vec::new(),
            locations: Vec::new(),
            push: PushMode::Realtime,
            push_interval_secs: 900,
            push_batch: None,
            drift_policy: DriftPolicy::Overwrite,
            drift_grace_secs: 30,
        }
    }
}

impl StockRules {
    /// The rules in a connection's settings JSON (defaults when absent).
    pub fn from_settings(settings: &serde_json::Value) -> Result<Self, String> {
        let rules = match settings.get("stock") {
            None | Some(serde_json::Value::Null) => Self::default(),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| format!("settings.stock: {e}"))?
            }
        };
        rules.check()?;
        Ok(rules)
    }

    fn check(&self) -> Result<(), String> {
        if self.safety_buffer < 0 {
            return Err("settings.stock.safety_buffer must be 0 or more".into());
        }
        if self.percent > 100 {
            return Err("settings.stock.percent must be between 0 and 100".into());
        }
        if self.max_listed.is_some_and(|m| m < 0) {
            return Err("settings.stock.max_listed must be 0 or more".into());
        }
        if self.end_listing_threshold < 0 {
            return Err("settings.stock.end_listing_threshold must be 0 or more".into());
        }
        if self.push == PushMode::Scheduled && self.push_interval_secs == 0 {
            return Err("settings.stock.push_interval_secs must be more than 0".into());
        }
        if self.push_batch == Some(0) {
            return Err("settings.stock.push_batch must be more than 0".into());
        }
        Ok(())
    }

    /// Skus per push on `platform` with `due` skus waiting: what the rules say, else large for
    /// channels that limit calls rather than items (a Mirakl offer import once a minute,
    /// CDiscount packages: one call should carry everything due); Amazon takes up to 10 as
    /// listing patches (5 a second, at once) and a backlog of more than 1,000 as one feed;
    /// PrestaShop 10 (a push is one PUT per sku: a large batch would send quantities read
    /// from the ledger seconds before, and keep a sku that has just reached 0 behind it);
    /// WooCommerce 100 (one products batch call); 500 for the others (a smaller call lets the
    /// scarcest skus that became due meanwhile go first in the next one).
    pub fn batch(&self, platform: &str, due: i64) -> u32 {
        self.push_batch.unwrap_or(match platform {
            "mirakl" => 100_000,
            "cdiscount" => 20_000,
            "amazon" if due > 1_000 => 20_000,
            "amazon" => 10,
            "prestashop" => 10,
            "woocommerce" => 100,
            _ => 500,
        })
    }

    /// Whether `warehouse` feeds this channel.
    pub fn feeds(&self, warehouse: &str) -> bool {
        self.warehouses.is_empty() || self.warehouses.iter().any(|w| w == warehouse)
    }

    /// The quantity the channel lists when its warehouses have `available` units.
    pub fn listed(&self, available: i64) -> i64 {
        let after_buffer = (available - self.safety_buffer).max(0);
        let mut q = after_buffer * i64::from(self.percent) / 100;
        if let Some(max) = self.max_listed {
            q = q.min(max);
        }
        if q <= self.end_listing_threshold {
            q = 0;
        }
        q.max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_list_everything_available() {
        let r = StockRules::default();
        assert_eq!(r.listed(7), 7);
        assert_eq!(r.listed(0), 0);
        assert_eq!(r.listed(-3), 0, "oversold stock lists nothing");
    }

    #[test]
    fn buffer_percent_cap_and_threshold_apply_in_that_order() {
        let r = StockRules::from_settings(&json!({"stock": {
            "safety_buffer": 2, "percent": 50, "max_listed": 10, "end_listing_threshold": 1
        }}))
        .expect("valid rules");
        assert_eq!(r.listed(100), 10, "capped");
        assert_eq!(r.listed(12), 5, "(12 - 2) * 50%");
        assert_eq!(
            r.listed(5),
            0,
            "(5 - 2) * 50% = 1, at the end-listing threshold"
        );
        assert_eq!(r.listed(6), 2);
        assert_eq!(r.listed(1), 0);
    }

    #[test]
    fn bad_rules_are_refused_with_the_field_named() {
        for (v, field) in [
            (json!({"stock": {"percent": 150}}), "percent"),
            (json!({"stock": {"safety_buffer": -1}}), "safety_buffer"),
            (
                json!({"stock": {"push": "sometimes"}}),
                "`sometimes`, expected one of `realtime`",
            ),
            (json!({"stock": {"colour": 1}}), "colour"),
        ] {
            let e = StockRules::from_settings(&v).expect_err("refused");
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn push_batches_by_platform() {
        let r = StockRules::default();
        assert_eq!(r.batch("prestashop", 5_000), 10, "one PUT per sku");
        assert_eq!(r.batch("woocommerce", 5_000), 100, "one batch call");
        assert_eq!(r.batch("amazon", 50), 10);
        assert_eq!(r.batch("amazon", 5_000), 20_000);
        assert_eq!(r.batch("shopify", 5_000), 500);
        let r = StockRules::from_settings(&json!({"stock": {"push_batch": 3}})).expect("valid");
        assert_eq!(r.batch("prestashop", 5_000), 3);
    }

    #[test]
    fn feeding_warehouses_default_to_all() {
        let r = StockRules::default();
        assert!(r.feeds("ANY"));
        let r = StockRules::from_settings(&json!({"stock": {"warehouses": ["A"]}})).expect("valid");
        assert!(r.feeds("A") && !r.feeds("B"));
    }
}
