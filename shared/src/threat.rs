//! The threat model's numbers, derived from the configuration: what an attacker with some number
//! of source addresses can get out of the API in a day ([`exposure`]), and what it takes to spend
//! each share of the SMS budget or to keep one owner out ([`thresholds`]). docs/security.md's
//! tables are [`table`]'s and [`thresholds_table`]'s output for the default and the production
//! settings (samconfig.toml's `prod`), with the CAPTCHA off and on; tests keep them equal.
use crate::config::{CaptchaProvider, Config};

const HOURS_A_DAY: u64 = 24;

/// What `sources` addresses, each in an address range of its own, can do in a day, at most (and on
/// average for guessing).
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub sources: u64,
    /// SMS they can have sent to numbers of their choosing: each address's hourly sends, capped
    /// by the new numbers' share of the hourly and the daily budget.
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
    let (_, new_per_hour) = limits.split(limits.sms_budget_per_hour);
    let (_, new_per_day) = limits.split(limits.sms_budget_per_day);
    let sms_per_day = (sources * per_day(limits.sends_per_hour))
        .min(per_day(new_per_hour))
        .min(u64::from(new_per_day));
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

/// docs/security.md's threat-model table for the named configurations, for 1 and 1,000 source
/// addresses.
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

/// The SMS budgets docs/deploy.md derives from a monthly spend of `monthly_usd` at
/// `usd_per_code`: (per day, per hour). A day is what 31 such days may cost; an hour is an eighth
/// of a day, the defaults' ratio (`DAILY_BUDGET_HOURS`), and at least one code.
pub fn budgets_for(monthly_usd: f64, usd_per_code: f64) -> (u32, u32) {
    let per_day = (monthly_usd / (LONGEST_MONTH_DAYS * usd_per_code)).floor() as u32;
    let per_hour = (per_day / crate::domain::limits::DAILY_BUDGET_HOURS).max(1);
    (per_day.max(1), per_hour)
}

/// docs/deploy.md's table of budgets for some monthly spends and prices: (spend, price, where).
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

/// What it takes to spend a share of the SMS budget in its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The codes of the share.
    pub codes: u64,
    /// Addresses, each at its hourly sends, for the whole window.
    pub addresses: u64,
    /// Address ranges they must spread over, each at its hourly sends.
    pub ranges: u64,
    /// Phones that already have an account, each at its hourly codes: the returning users'
    /// share goes only to those; `None` for the new numbers', which any number spends.
    pub accounts: Option<u64>,
    /// CAPTCHAs to solve, one a code, with a CAPTCHA on.
    pub solves: Option<u64>,
}

/// What it takes, at least, to spend each share of the budget and to keep one owner out.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// The new numbers' share of an hour's budget, and of a day's (`None`: the day's share is
    /// more than its hours' shares add up to, so the hours' run out first).
    pub new_hour: Option<Need>,
    pub new_day: Option<Need>,
    /// The returning phones' share of an hour and of a day (`None`: there is none).
    pub returning_hour: Option<Need>,
    pub returning_day: Option<Need>,
    pub keep_out: OwnerKeptOut,
}

/// What keeping one owner out takes.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerKeptOut {
    /// Addresses, each at its daily wrong codes on the phone: together they reach the phone's
    /// ceiling (one alone is locked out of the phone first).
    pub addresses: u64,
    /// Address ranges they need, each at its hourly wrong codes.
    pub ranges: u64,
    /// Hours of sending codes to the phone before the ceiling is reached.
    pub from_hours: f64,
    /// Codes they must have sent a day to burn with wrong tries, each a CAPTCHA with one on.
    pub codes_per_day: u64,
    pub solves_per_day: Option<u64>,
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

pub fn thresholds(config: &Config) -> Thresholds {
    let otp = &config.otp;
    let limits = &config.limits;
    let captcha = config.captcha.provider != CaptchaProvider::None;
    let (returning_hour, new_hour) = limits.split(limits.sms_budget_per_hour);
    let (returning_day, new_day) = limits.split(limits.sms_budget_per_day);
    let per_address = u64::from(limits.sends_per_hour);
    let per_range = u64::from(limits.range_sends_per_hour);
    let per_phone = u64::from(otp.phone_max_sends_per_hour);
    // `codes` over `hours`: each address, range and (for returning phones) account at its
    // hourly cap for all of them.
    let need = |codes: u32, hours: u64, returning: bool| {
        let codes = u64::from(codes);
        (codes > 0).then(|| Need {
            codes,
            addresses: div_ceil(codes, per_address * hours),
            ranges: div_ceil(codes, per_range * hours),
            accounts: returning.then(|| div_ceil(codes, per_phone * hours)),
            solves: captcha.then_some(codes),
        })
    };
    // A day's share can be spent only if its hours' shares add up to more.
    let spendable = |day: u32, hour: u32| u64::from(day) <= u64::from(hour) * HOURS_A_DAY;
    let failures = u64::from(otp.phone_max_failures_per_day);
    let codes_per_day = div_ceil(failures, u64::from(otp.max_attempts));
    let addresses = div_ceil(failures, u64::from(otp.max_failures_per_day));
    let sends_per_hour = (addresses * u64::from(otp.max_sends_per_hour))
        .min(addresses * per_address)
        .min(per_phone);
    Thresholds {
        new_hour: need(new_hour, 1, false),
        new_day: need(new_day, HOURS_A_DAY, false).filter(|_| spendable(new_day, new_hour)),
        returning_hour: need(returning_hour, 1, true),
        returning_day: need(returning_day, HOURS_A_DAY, true)
            .filter(|_| spendable(returning_day, returning_hour)),
        keep_out: OwnerKeptOut {
            addresses,
            ranges: div_ceil(
                failures,
                u64::from(limits.range_failures_per_hour) * HOURS_A_DAY,
            ),
            from_hours: codes_per_day as f64 / sends_per_hour as f64,
            codes_per_day,
            solves_per_day: captcha.then_some(codes_per_day),
        },
    }
}

/// docs/security.md's table of what it takes, for the named configurations.
pub fn thresholds_table(configs: &[(&str, &Config)]) -> String {
    let mut out = String::from(
        "| settings | CAPTCHA | to spend the new numbers' hour | the new numbers' day \
         | the returning users' hour | the returning users' day | to keep one owner out |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (name, config) in configs {
        let t = thresholds(config);
        let captcha = match config.captcha.provider {
            CaptchaProvider::None => "off",
            _ => "on",
        };
        let keep = &t.keep_out;
        let solves = keep
            .solves_per_day
            .map(|n| format!(", and {} CAPTCHAs a day", amount(n as f64)))
            .unwrap_or_default();
        let keep_out = format!(
            "{} addresses {}, {} codes a day{solves}; from {} h in",
            amount(keep.addresses as f64),
            spread(keep.ranges),
            amount(keep.codes_per_day as f64),
            amount(keep.from_hours),
        );
        out.push_str(&format!(
            "| {name} | {captcha} | {} | {} | {} | {} | {keep_out} |\n",
            need_text(t.new_hour.as_ref(), "an hour"),
            need_text(t.new_day.as_ref(), "all day"),
            need_text(t.returning_hour.as_ref(), "an hour"),
            need_text(t.returning_day.as_ref(), "all day"),
        ));
    }
    out
}

fn need_text(need: Option<&Need>, window: &str) -> String {
    let Some(n) = need else {
        return "never: there is no such share".into();
    };
    let plural = |n: u64, one: &str, many: &str| {
        format!("{} {}", amount(n as f64), if n == 1 { one } else { many })
    };
    let addresses = format!(
        "{} {}, {window}",
        plural(n.addresses, "address", "addresses"),
        spread(n.ranges),
    );
    let solves = n
        .solves
        .map(|s| format!(", and {} CAPTCHAs", amount(s as f64)))
        .unwrap_or_default();
    match n.accounts {
        None => format!("{} codes: {addresses}{solves}", amount(n.codes as f64)),
        Some(accounts) => format!(
            "{} codes: impossible without {}; and {addresses}{solves}",
            amount(n.codes as f64),
            plural(accounts, "account", "accounts"),
        ),
    }
}

/// How many address ranges some addresses must spread over, at least.
fn spread(ranges: u64) -> String {
    match ranges {
        0 | 1 => "(one /24 will do)".into(),
        n => format!("in at least {} /24s", amount(n as f64)),
    }
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

    /// The `prod` configuration of samconfig.toml, as the template hands its parameters to the
    /// functions: `OtpDigits` is `OTP_DIGITS`, and so on (parameters no function reads, such as
    /// `CaptchaSecretArn`, change nothing).
    fn production(extra: &[(&str, &str)]) -> Config {
        let samconfig = include_str!("../../samconfig.toml");
        let prod = samconfig
            .split("[prod.deploy.parameters]")
            .nth(1)
            .expect("samconfig.toml has a prod deploy section");
        let line = prod
            .lines()
            .find(|l| l.starts_with("parameter_overrides"))
            .expect("prod parameter_overrides");
        let overrides = line
            .split_once('=')
            .map(|(_, v)| v.trim().trim_matches('"'))
            .unwrap_or_default();
        let env: Vec<(String, String)> = overrides
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (screaming_snake(name), value.to_owned()))
            .collect();
        let mut pairs: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.extend_from_slice(extra);
        config(&pairs)
    }

    /// `OtpDigits` as `OTP_DIGITS`: how template.yaml names the variable of each parameter.
    fn screaming_snake(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    const CAPTCHA: &[(&str, &str)] = &[("CAPTCHA_PROVIDER", "turnstile"), ("CAPTCHA_SECRET", "s")];

    /// Deleting the account withdraws the phone's pending code and keeps its record
    /// ([`crate::domain::OtpState::withdrawn`]): every per-phone limit this model counts on
    /// refuses after a deletion (and so after the number registers again) exactly as before it.
    #[test]
    fn deleting_the_account_and_registering_again_resets_no_per_phone_limit() {
        use crate::domain::{ClientTag, CodeHash, Mark, OtpState, SendRejected};
        const NOW: i64 = 1_800_000_000;
        let tag = |i: u32| ClientTag::from_trusted(format!("caller-{i:010}"));
        let marks = |n: u32, ago: i64, by: &dyn Fn(u32) -> ClientTag| -> Vec<Mark> {
            (0..n)
                .map(|i| Mark {
                    at: NOW - ago + i64::from(i),
                    client: by(i),
                })
                .collect()
        };
        for config in [config(&[]), production(&[])] {
            let policy = &config.otp;
            let newcomer = tag(999_999);
            let pending = |sends, failures| OtpState {
                code_hash: Some(CodeHash([1; 32])),
                expires_at: NOW + 60,
                sends,
                failures,
                ..OtpState::default()
            };
            let states = [
                // The phone's hour of sends, from as many callers.
                pending(marks(policy.phone_max_sends_per_hour, 600, &tag), vec![]),
                // The phone's day of wrong codes, from as many callers.
                pending(
                    vec![],
                    marks(policy.phone_max_failures_per_day, 6_000, &tag),
                ),
                // One caller's sends to the phone within the cooldown, and its day of wrong codes.
                pending(marks(1, 10, &|_| newcomer.clone()), vec![]),
                pending(
                    vec![],
                    marks(policy.max_failures_per_day, 6_000, &|_| newcomer.clone()),
                ),
            ];
            for state in states {
                let before = state.send(NOW, policy, &newcomer, CodeHash([2; 32]));
                assert!(
                    matches!(
                        before,
                        Err(SendRejected::HourlyLimit { .. }
                            | SendRejected::Locked { .. }
                            | SendRejected::TooSoon { .. })
                    ),
                    "{before:?}"
                );
                let after = state.withdrawn();
                assert_eq!(after.code_hash, None);
                assert_eq!(
                    after.send(NOW, policy, &newcomer, CodeHash([2; 32])),
                    before
                );
                assert_eq!(after.forget_at(), state.forget_at());
            }
        }
    }

    #[test]
    fn docs_carry_the_threat_model_of_the_default_and_production_settings() {
        let (defaults, prod) = (config(&[]), production(&[]));
        assert_eq!(prod.otp.digits, 6);
        assert!(prod.reach.mobile_only);
        let table = table(&[
            ("defaults (4 digits)", &defaults),
            ("production (6 digits)", &prod),
        ]);
        let security = include_str!("../../docs/security.md");
        assert!(
            security.contains(&table),
            "docs/security.md's threat model is out of date; it should read:\n\n{table}"
        );
        let (defaults_on, prod_on) = (config(CAPTCHA), production(CAPTCHA));
        let thresholds = thresholds_table(&[
            ("defaults (4 digits)", &defaults),
            ("defaults (4 digits)", &defaults_on),
            ("production (6 digits)", &prod),
            ("production (6 digits)", &prod_on),
        ]);
        assert!(
            security.contains(&thresholds),
            "docs/security.md's thresholds are out of date; they should read:\n\n{thresholds}"
        );
    }

    #[test]
    fn the_new_numbers_share_takes_fifty_addresses_an_hour_and_seventeen_all_day() {
        let t = thresholds(&config(&[]));
        assert_eq!(
            t.new_hour,
            Some(Need {
                codes: 500,
                addresses: 50,
                ranges: 10,
                accounts: None,
                solves: None,
            })
        );
        let day = t.new_day.unwrap();
        assert_eq!((day.codes, day.addresses, day.ranges), (4_000, 17, 4));
        // With a CAPTCHA: the same addresses, and a solved CAPTCHA for every code.
        let on = thresholds(&config(CAPTCHA));
        assert_eq!(on.new_hour.unwrap().solves, Some(500));
        assert_eq!(on.new_day.unwrap().solves, Some(4_000));
    }

    #[test]
    fn the_returning_users_share_is_impossible_to_spend_without_fifty_accounts_an_hour() {
        let t = thresholds(&config(&[]));
        let hour = t.returning_hour.unwrap();
        // Each phone takes at most 10 codes an hour from everyone: 500 codes need 50 phones
        // that have an account.
        assert_eq!(
            (hour.codes, hour.accounts, hour.addresses),
            (500, Some(50), 50)
        );
        let day = t.returning_day.unwrap();
        assert_eq!(
            (day.codes, day.accounts, day.addresses),
            (4_000, Some(17), 17)
        );
        // No share kept for returning phones: nothing to spend.
        let none = thresholds(&config(&[("SMS_BUDGET_RETURNING_PERCENT", "0")]));
        assert_eq!(none.returning_hour, None);
        // A daily share larger than a day of hourly ones is never what runs out.
        let wide = thresholds(&config(&[("SMS_BUDGET_PER_DAY", "100000")]));
        assert_eq!((wide.new_day, wide.returning_day), (None, None));
    }

    #[test]
    fn keeping_one_owner_out_takes_ten_addresses_and_twenty_codes_a_day() {
        let k = thresholds(&config(&[])).keep_out;
        assert_eq!((k.addresses, k.ranges, k.codes_per_day), (10, 1, 20));
        assert!((k.from_hours - 2.0).abs() < 1e-12);
        assert_eq!(k.solves_per_day, None);
        assert_eq!(
            thresholds(&config(CAPTCHA)).keep_out.solves_per_day,
            Some(20)
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
    fn a_thousand_addresses_are_held_by_the_new_numbers_daily_share_and_the_phone_ceiling() {
        let e = exposure(&config(&[]), 1_000);
        assert_eq!(e.sms_per_day, 4_000);
        assert_eq!(e.guesses_per_day, 20_000);
        assert!((e.accounts_per_day - 2.0).abs() < 1e-9);
        assert_eq!(e.keep_out, KeepOut::WhileAttacking { from_hours: 2.0 });
        let six = exposure(&production(&[]), 1_000);
        assert!((six.accounts_per_day - 0.02).abs() < 1e-12);
    }

    #[test]
    fn docs_derive_the_sms_budgets_from_a_monthly_spend_as_this_arithmetic_does() {
        let table = budgets_table(&[
            (200.0, 0.45, "Russia"),
            (5_000.0, 0.45, "Russia"),
            (200.0, 0.008, "United States"),
        ]);
        let deploy = include_str!("../../docs/deploy.md");
        assert!(
            deploy.contains(&table),
            "docs/deploy.md's SMS budgets are out of date; they should read:\n\n{table}"
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
