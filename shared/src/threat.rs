//! The threat model's numbers, derived from the configuration: what an attacker with some number
//! of source addresses can get out of the API in a day. README's table is [`table`]'s output for
//! the default and the production settings; a test keeps the two equal.
use crate::config::Config;

const HOURS_A_DAY: u64 = 24;

/// What `sources` addresses can do in a day, at most (and on average for guessing).
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub sources: u64,
    /// SMS they can have sent: each address's hourly sends, capped by the service's budget.
    pub sms_per_day: u64,
    /// Codes they can try: each address's hourly wrong codes, and never more than five tries
    /// (`OTP_MAX_ATTEMPTS`) per code they had sent.
    pub guesses_per_day: u64,
    /// Accounts expected to fall to those guesses, spread over as many phones as they like: each
    /// try on a pending code hits with odds 1 / 10^digits.
    pub accounts_per_day: f64,
    pub keep_out: KeepOut,
}

/// The longest they can keep one phone's owner from logging in.
#[derive(Debug, Clone, PartialEq)]
pub enum KeepOut {
    /// They cannot: each address is locked out of the phone on its own after its daily wrong
    /// codes, which burns at most this many of the owner's codes a day, and the owner asks for a
    /// new one at once (the cooldown is per address).
    Never { burned_codes_per_day: u64 },
    /// Enough addresses reach the phone's ceiling of wrong codes a day, which then holds every
    /// verification; it takes them this many hours of sending codes to that phone to get there,
    /// and they keep it there as long as they keep going.
    WhileAttacking { from_hours: f64 },
}

pub fn exposure(config: &Config, sources: u64) -> Exposure {
    let otp = &config.otp;
    let limits = &config.limits;
    let per_day = |per_hour: u32| u64::from(per_hour) * HOURS_A_DAY;
    let sms_per_day =
        (sources * per_day(limits.sends_per_hour)).min(per_day(limits.sms_budget_per_hour));
    let guesses_per_day = (sources * per_day(limits.failures_per_hour))
        .min(sms_per_day * u64::from(otp.max_attempts));
    let codes = 10f64.powi(i32::from(otp.digits));
    let keep_out = if sources * u64::from(otp.max_failures_per_day)
        >= u64::from(otp.phone_max_failures_per_day)
    {
        let codes_to_burn = f64::from(otp.phone_max_failures_per_day) / f64::from(otp.max_attempts);
        let sends_per_hour = (sources * u64::from(otp.max_sends_per_hour))
            .min(sources * u64::from(limits.sends_per_hour))
            .min(u64::from(otp.phone_max_sends_per_hour));
        KeepOut::WhileAttacking {
            from_hours: codes_to_burn / sends_per_hour as f64,
        }
    } else {
        KeepOut::Never {
            burned_codes_per_day: sources * u64::from(otp.max_failures_per_day)
                / u64::from(otp.max_attempts),
        }
    };
    Exposure {
        sources,
        sms_per_day,
        guesses_per_day,
        accounts_per_day: guesses_per_day as f64 / codes,
        keep_out,
    }
}

/// README's threat-model table for the named configurations, for 1 and 1,000 source addresses.
pub fn table(configs: &[(&str, &Config)]) -> String {
    let mut out = String::from(
        "| settings | source addresses | SMS a day, at most | codes tried a day, at most \
         | accounts guessed a day, expected | longest one owner is kept out |\n\
         | --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    for (name, config) in configs {
        for sources in [1, 1_000] {
            let e = exposure(config, sources);
            let keep_out = match e.keep_out {
                KeepOut::Never {
                    burned_codes_per_day,
                } => format!(
                    "never (at most {burned_codes_per_day} of the owner's codes burned a day)"
                ),
                KeepOut::WhileAttacking { from_hours } => {
                    format!(
                        "as long as the attack lasts, from {} h in",
                        amount(from_hours)
                    )
                }
            };
            out.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {keep_out} |\n",
                amount(e.sources as f64),
                amount(e.sms_per_day as f64),
                amount(e.guesses_per_day as f64),
                amount(e.accounts_per_day),
            ));
        }
    }
    out
}

/// The longest month, in days: a daily budget spent every day of it stays within the month's spend.
const LONGEST_MONTH_DAYS: f64 = 31.0;

/// The SMS budgets README's Deploy section derives from a monthly spend of `monthly_usd` at
/// `usd_per_code`: (per day, per hour). A day is what 31 such days may cost; an hour is an eighth
/// of a day, the defaults' ratio (`DAILY_BUDGET_HOURS`), and at least one code.
pub fn budgets_for(monthly_usd: f64, usd_per_code: f64) -> (u32, u32) {
    let per_day = (monthly_usd / (LONGEST_MONTH_DAYS * usd_per_code)).floor() as u32;
    let per_hour = (per_day / crate::domain::limits::DAILY_BUDGET_HOURS).max(1);
    (per_day.max(1), per_hour)
}

/// README's table of budgets for some monthly spends and prices: (spend, price, where).
pub fn budgets_table(cases: &[(f64, f64, &str)]) -> String {
    let mut out = String::from(
        "| monthly spend `S` | price per code `p` | `SmsBudgetPerDay` | `SmsBudgetPerHour` |\n\
         | ---: | ---: | ---: | ---: |\n",
    );
    for &(spend, price, place) in cases {
        let (day, hour) = budgets_for(spend, price);
        out.push_str(&format!(
            "| ${} | ${price} ({place}) | {} | {} |\n",
            amount(spend),
            amount(f64::from(day)),
            amount(f64::from(hour)),
        ));
    }
    out
}

/// Whole numbers with thousands separators, fractions with two significant digits.
fn amount(x: f64) -> String {
    if x >= 1.0 && x.fract() == 0.0 {
        let digits = format!("{x:.0}");
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if x >= 1.0 {
        format!("{x:.1}")
    } else if x == 0.0 {
        "0".into()
    } else {
        let decimals = (-x.log10()).ceil() as usize + 1;
        format!("{x:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut env: HashMap<&str, &str> =
            HashMap::from([("JWT_SECRET", "0123456789abcdef0123456789abcdef")]);
        env.extend(pairs.iter().copied());
        Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned())).unwrap()
    }

    /// What the `prod` configuration in samconfig.toml changes that matters here.
    const PRODUCTION: &[(&str, &str)] = &[("OTP_DIGITS", "6")];

    #[test]
    fn readme_carries_the_threat_model_of_the_default_and_production_settings() {
        let (defaults, production) = (config(&[]), config(PRODUCTION));
        let table = table(&[
            ("defaults (4 digits)", &defaults),
            ("production (6 digits)", &production),
        ]);
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&table),
            "README's threat model is out of date; it should read:\n\n{table}"
        );
    }

    #[test]
    fn one_address_gets_ten_codes_an_hour_and_cannot_lock_an_owner_out() {
        let e = exposure(&config(&[]), 1);
        assert_eq!(e.sms_per_day, 240);
        assert_eq!(e.guesses_per_day, 480);
        assert!((e.accounts_per_day - 0.048).abs() < 1e-12);
        assert_eq!(
            e.keep_out,
            KeepOut::Never {
                burned_codes_per_day: 2
            }
        );
    }

    #[test]
    fn a_thousand_addresses_are_held_by_the_budget_and_the_phone_ceiling() {
        let e = exposure(&config(&[]), 1_000);
        assert_eq!(e.sms_per_day, 24_000);
        assert_eq!(e.guesses_per_day, 120_000);
        assert!((e.accounts_per_day - 12.0).abs() < 1e-9);
        assert_eq!(e.keep_out, KeepOut::WhileAttacking { from_hours: 2.0 });
        let six = exposure(&config(PRODUCTION), 1_000);
        assert!((six.accounts_per_day - 0.12).abs() < 1e-12);
    }

    #[test]
    fn readme_derives_the_sms_budgets_from_a_monthly_spend_as_this_arithmetic_does() {
        let table = budgets_table(&[
            (200.0, 0.45, "Russia"),
            (5_000.0, 0.45, "Russia"),
            (200.0, 0.008, "United States"),
        ]);
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&table),
            "README's SMS budgets are out of date; they should read:\n\n{table}"
        );
    }

    #[test]
    fn a_month_of_full_daily_budgets_stays_within_the_monthly_spend() {
        for (spend, price) in [(200.0, 0.45), (5_000.0, 0.45), (200.0, 0.008), (1.0, 0.01)] {
            let (day, hour) = budgets_for(spend, price);
            assert!(
                31.0 * f64::from(day) * price <= spend + 1e-9,
                "{spend} at {price}"
            );
            assert!(
                hour >= 1 && hour * 8 <= day.max(8),
                "{spend} at {price}: {hour}/h, {day}/day"
            );
        }
        assert_eq!(budgets_for(5_000.0, 0.45), (358, 44));
    }

    #[test]
    fn amounts_read_like_a_person_wrote_them() {
        assert_eq!(amount(24_000.0), "24,000");
        assert_eq!(amount(1.0), "1");
        assert_eq!(amount(0.048), "0.048");
        assert_eq!(amount(0.00048), "0.00048");
        assert_eq!(amount(2.5), "2.5");
    }
}
