//! Rating: which destination class a dialled number belongs to, and what a call costs.
//!
//! The numbering plan is per deployment ([`NumberingPlan`]); the default is the issue's plan:
//! an extension inside a school, `8` + 4-digit site code + extension to another site (on-net),
//! `112`/`100`/`101` emergency, `0` + national number, `00` + international number. Calls are
//! rated per second with a per-class [`Tariff`]; money is integer micro-units of the currency
//! so that sums are exact.

use serde::{Deserialize, Serialize};

/// The class of a call's destination; each class has one tariff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DestinationClass {
    /// Inside a site or to another site of the network: free by default.
    OnNet,
    /// An emergency number: free by default.
    Emergency,
    /// A fixed line in the country.
    NationalFixed,
    /// A mobile line in the country.
    NationalMobile,
    /// Anything abroad.
    International,
    /// A call from the public network to one of our DIDs: free by default.
    Inbound,
}

impl DestinationClass {
    /// Every class, in statement order.
    pub const ALL: [DestinationClass; 6] = [
        DestinationClass::OnNet,
        DestinationClass::Emergency,
        DestinationClass::NationalFixed,
        DestinationClass::NationalMobile,
        DestinationClass::International,
        DestinationClass::Inbound,
    ];

    /// The name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationClass::OnNet => "on_net",
            DestinationClass::Emergency => "emergency",
            DestinationClass::NationalFixed => "national_fixed",
            DestinationClass::NationalMobile => "national_mobile",
            DestinationClass::International => "international",
            DestinationClass::Inbound => "inbound",
        }
    }

    /// Parses the name used in the database and the API.
    pub fn parse(s: &str) -> Option<DestinationClass> {
        DestinationClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The deployment's dial plan, as far as rating needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberingPlan {
    /// Numbers that reach the emergency services.
    pub emergency: Vec<String>,
    /// Prefix for another site: prefix + site code + extension.
    pub on_net_prefix: String,
    /// Digits in a site code.
    pub site_code_len: usize,
    /// Prefix of a national number (trunk prefix).
    pub national_prefix: String,
    /// Prefix of an international number.
    pub international_prefix: String,
    /// Prefixes, in national form (with the national prefix), of mobile numbers.
    pub mobile_prefixes: Vec<String>,
    /// The country's calling code, to read `+` (E.164) numbers.
    pub country_code: String,
}

impl Default for NumberingPlan {
    fn default() -> Self {
        NumberingPlan {
            emergency: vec!["112".into(), "100".into(), "101".into()],
            on_net_prefix: "8".into(),
            site_code_len: 4,
            national_prefix: "0".into(),
            international_prefix: "00".into(),
            mobile_prefixes: vec!["04".into(), "06".into(), "07".into()],
            country_code: "32".into(),
        }
    }
}

impl NumberingPlan {
    /// The class of an outbound call to `callee` (the dialled number or SIP user part).
    ///
    /// Total on purpose: a record is never refused for its number. What is neither emergency,
    /// national nor international is an extension of the site or `8`+site+extension: on-net.
    pub fn classify(&self, callee: &str) -> DestinationClass {
        let callee = callee.trim();
        if let Some(e164) = callee.strip_prefix('+') {
            return match e164.strip_prefix(self.country_code.as_str()) {
                Some(national) if !self.country_code.is_empty() => {
                    self.classify_national(&format!("{}{national}", self.national_prefix))
                }
                _ => DestinationClass::International,
            };
        }
        if self.emergency.iter().any(|e| e == callee) {
            return DestinationClass::Emergency;
        }
        if !self.international_prefix.is_empty() && callee.starts_with(&self.international_prefix) {
            return DestinationClass::International;
        }
        if !self.national_prefix.is_empty() && callee.starts_with(&self.national_prefix) {
            return self.classify_national(callee);
        }
        DestinationClass::OnNet
    }

    fn classify_national(&self, national: &str) -> DestinationClass {
        if self.mobile_prefixes.iter().any(|p| national.starts_with(p.as_str())) {
            DestinationClass::NationalMobile
        } else {
            DestinationClass::NationalFixed
        }
    }

    /// Why `number` cannot be an extension or ring-group number under this plan, if it cannot:
    /// it must be 2 to 6 digits, not start like a national, international or on-net number, and
    /// not be an emergency number.
    pub fn check_internal_number(&self, number: &str) -> Result<(), String> {
        if !(2..=6).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err("number must be 2 to 6 digits".into());
        }
        if self.emergency.iter().any(|e| e == number) {
            return Err(format!("number {number} is an emergency number"));
        }
        for (prefix, what) in [(&self.national_prefix, "national"), (&self.on_net_prefix, "on-net")] {
            if !prefix.is_empty() && number.starts_with(prefix.as_str()) {
                return Err(format!("number must not start with the {what} prefix {prefix}"));
            }
        }
        Ok(())
    }
}

/// The price of one destination class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    /// The class this tariff prices.
    pub class: DestinationClass,
    /// Price of one second, in micro-units of the currency.
    pub price_micros_per_sec: i64,
    /// An answered call is billed at least this many seconds.
    pub min_secs: i64,
    /// Billed seconds are rounded up to a multiple of this (1 = per second).
    pub increment_secs: i64,
}

impl Tariff {
    /// A free tariff for `class`.
    pub fn free(class: DestinationClass) -> Tariff {
        Tariff { class, price_micros_per_sec: 0, min_secs: 0, increment_secs: 1 }
    }

    /// Billed seconds and cost of a call that was connected for `duration_secs` (0 when
    /// unanswered: unanswered calls cost nothing). Saturates rather than overflows.
    pub fn rate(&self, answered: bool, duration_secs: i64) -> (i64, i64) {
        if !answered {
            return (0, 0);
        }
        let mut billed = duration_secs.max(self.min_secs).max(0);
        let step = self.increment_secs.max(1);
        if billed % step != 0 {
            billed = billed.saturating_add(step - billed % step);
        }
        (billed, billed.saturating_mul(self.price_micros_per_sec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DestinationClass::*;

    #[test]
    fn default_plan_classifies_the_issue_examples() {
        let plan = NumberingPlan::default();
        assert_eq!(plan.classify("102"), OnNet);
        assert_eq!(plan.classify("81234102"), OnNet);
        for e in ["112", "100", "101"] {
            assert_eq!(plan.classify(e), Emergency);
        }
        assert_eq!(plan.classify("025551234"), NationalFixed);
        assert_eq!(plan.classify("0475123456"), NationalMobile);
        assert_eq!(plan.classify("0033142685300"), International);
        assert_eq!(plan.classify("+3225551234"), NationalFixed);
        assert_eq!(plan.classify("+32475123456"), NationalMobile);
        assert_eq!(plan.classify("+33142685300"), International);
        assert_eq!(plan.classify("alice"), OnNet);
    }

    #[test]
    fn internal_numbers_may_not_shadow_the_plan() {
        let plan = NumberingPlan::default();
        assert!(plan.check_internal_number("102").is_ok());
        assert!(plan.check_internal_number("101").is_err());
        assert!(plan.check_internal_number("0123").is_err());
        assert!(plan.check_internal_number("812").is_err());
        assert!(plan.check_internal_number("1").is_err());
        assert!(plan.check_internal_number("12a").is_err());
    }

    #[test]
    fn rating_applies_minimum_and_increment() {
        let t = Tariff { class: NationalFixed, price_micros_per_sec: 250, min_secs: 30, increment_secs: 6 };
        assert_eq!(t.rate(false, 100), (0, 0));
        assert_eq!(t.rate(true, 5), (30, 7_500));
        assert_eq!(t.rate(true, 31), (36, 9_000));
        assert_eq!(t.rate(true, 36), (36, 9_000));
        assert_eq!(Tariff::free(OnNet).rate(true, 3600), (3600, 0));
    }
}
