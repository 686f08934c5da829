//! Settings: which function gets which environment, samconfig's demo and production, and the
//! template's Rules.
use std::collections::BTreeMap;

use super::*;
use crate::root_file;

#[test]
fn only_send_code_gets_the_sms_settings() {
    let env = environment(&crate::stack::template_text()).unwrap();
    let sms = [
        "SMS_SENDER",
        "SMS_SENDER_ID",
        "SMS_ORIGINATION_NUMBER",
        "SMS_TEMPLATE",
        "SNS_ENDPOINT",
    ];
    for (function, vars) in &env {
        for var in sms {
            assert_eq!(
                vars.contains(var),
                function == "send-code",
                "{function}: {var}"
            );
        }
        for shared in [
            "EXPOSE_CODES",
            "OTP_DIGITS",
            "SMS_DELAY_MS",
            "DEFAULT_REGION",
            "IP_MAX_SENDS_PER_HOUR",
            "IP_MAX_FAILURES_PER_HOUR",
            "IP_RANGE_MAX_SENDS_PER_HOUR",
            "IP_RANGE_MAX_FAILURES_PER_HOUR",
            "SMS_BUDGET_PER_HOUR",
            "SMS_BUDGET_SHARDS",
            "SMS_BUDGET_PER_DAY",
            "SMS_BUDGET_RETURNING_PERCENT",
            "SMS_ALLOWED_REGIONS",
            "SMS_MOBILE_ONLY",
        ] {
            assert!(vars.contains(shared), "{function}: {shared}");
        }
    }
}

#[test]
fn only_send_code_gets_the_captcha_secret_and_the_page_gets_the_site_key() {
    let env = environment(&crate::stack::template_text()).unwrap();
    for (function, vars) in &env {
        let sends = function == "send-code";
        for var in ["CAPTCHA_SECRET", "CAPTCHA_VERIFY_URL"] {
            assert_eq!(vars.contains(var), sends, "{function}: {var}");
        }
        let shows = sends || function == "web";
        for var in ["CAPTCHA_PROVIDER", "CAPTCHA_SITE_KEY"] {
            assert_eq!(vars.contains(var), shows, "{function}: {var}");
        }
    }
    // The secret comes from Secrets Manager at deploy time, never from a parameter's value.
    let doc = crate::stack::template();
    let secret = &doc["Resources"]["SendCodeFunction"]["Properties"]["Environment"]["Variables"]["CAPTCHA_SECRET"];
    let text = format!("{secret:?}");
    assert!(
        text.contains("{{resolve:secretsmanager:${CaptchaSecretArn}:SecretString}}"),
        "{text}"
    );
    for env in ["default", "prod"] {
        let overrides = samconfig_overrides(env);
        assert!(
            !overrides
                .keys()
                .any(|k| k.contains("Secret") && k != "CaptchaSecretArn"),
            "{env}: {overrides:?}"
        );
    }
}

#[test]
fn a_captcha_provider_is_refused_without_its_site_key_and_secret() {
    let template = crate::stack::template_text();
    let values = values_with;
    let broken = broken_rules(&template, &values(&[("CaptchaProvider", "turnstile")])).unwrap();
    assert_eq!(broken.len(), 2, "{broken:?}");
    let complete = values(&[
        ("CaptchaProvider", "hcaptcha"),
        ("CaptchaSiteKey", "10000000-ffff-ffff-ffff-000000000001"),
        ("CaptchaSecretArn", "referral-api/captcha"),
    ]);
    assert_eq!(
        broken_rules(&template, &complete).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn the_stack_refuses_real_sms_together_with_returned_codes() {
    let template = crate::stack::template_text();
    let values = values_with;
    let broken = broken_rules(
        &template,
        &values(&[
            ("SmsSender", "sns"),
            ("ExposeCodes", "true"),
            ("SmsSenderId", "MYBRAND"),
        ]),
    )
    .unwrap();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].contains("ExposeCodes must be \"false\""));
    // The template's defaults are the demo, which the rule allows.
    assert!(broken_rules(&template, &values(&[])).unwrap().is_empty());
    assert!(
        broken_rules(
            &template,
            &values(&[
                ("SmsSender", "sns"),
                ("ExposeCodes", "false"),
                ("SmsSenderId", "MYBRAND")
            ])
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn samconfig_deploys_the_demo_by_default_and_production_with_env_prod() {
    let template = crate::stack::template_text();
    let demo = samconfig_overrides("default");
    let prod = samconfig_overrides("prod");
    assert_eq!(demo["ExposeCodes"], "true");
    assert_eq!(demo["SmsSender"], "log");
    assert_eq!(prod["ExposeCodes"], "false");
    assert_eq!(prod["SmsSender"], "sns");
    assert_eq!(prod["OtpDigits"], "6");
    assert_eq!(
        demo.get("SmsAllowedRegions"),
        None,
        "the demo sends nowhere real"
    );
    assert_ne!(
        prod.get("SmsAllowedRegions").map(String::as_str),
        None,
        "production names the countries it pays SMS to"
    );
    assert_eq!(prod["SmsMobileOnly"], "true");
    let broken = |overrides: &BTreeMap<String, String>| {
        let values = parameter_values(&template, overrides).unwrap();
        let mut names: Vec<String> = broken_rules(&template, &values)
            .unwrap()
            .into_iter()
            .map(|b| b.split(':').next().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(broken(&demo), Vec::<String>::new());
    // Production as samconfig has it is refused until it names its registered sender ID
    // (docs/deploy.md), and without the web ACL scripts/deploy.sh adds.
    assert_eq!(
        broken(&prod),
        ["EdgeNeedsItsWebAcl", "RussianSmsNeedsASenderId"]
    );
    let mut deployed = prod.clone();
    deployed.insert("EdgeWebAclArn".into(), WEB_ACL.into());
    deployed.insert("SmsSenderId".into(), "MYBRAND".into());
    assert_eq!(broken(&deployed), Vec::<String>::new());

    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    let stack = |env: &str| config[env]["global"]["parameters"]["stack_name"].clone();
    assert_ne!(
        stack("default"),
        stack("prod"),
        "the two must be separate stacks"
    );
    let deploy = |env: &str| {
        config[env]["deploy"]["parameters"]
            .as_table()
            .unwrap()
            .clone()
    };
    let (d, p) = (deploy("default"), deploy("prod"));
    assert_eq!(
        d.keys().collect::<Vec<_>>(),
        p.keys().collect::<Vec<_>>(),
        "prod sets what the demo sets"
    );
    for key in [
        "capabilities",
        "resolve_s3",
        "confirm_changeset",
        "fail_on_empty_changeset",
    ] {
        assert_eq!(d[key], p[key], "{key}");
    }
    assert_eq!(
        p["confirm_changeset"].as_bool(),
        Some(false),
        "no prompt in CI"
    );
}

const WEB_ACL: &str =
    "arn:aws:wafv2:us-east-1:123456789012:global/webacl/referral-api-prod-edge/0f1e";

fn values_with(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let o = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parameter_values(&crate::stack::template_text(), &o).unwrap()
}

fn rules_broken_by(overrides: &[(&str, &str)]) -> Vec<String> {
    broken_rules(&crate::stack::template_text(), &values_with(overrides))
        .unwrap()
        .into_iter()
        .map(|b| b.split(':').next().unwrap().to_owned())
        .collect()
}

#[test]
fn real_sms_that_may_go_to_russia_needs_a_sender_id() {
    let sns = [("SmsSender", "sns"), ("ExposeCodes", "false")];
    let with = |extra: &[(&str, &str)]| {
        let mut all = sns.to_vec();
        all.extend_from_slice(extra);
        rules_broken_by(&all)
    };
    for regions in ["RU", "*", "KZ,RU"] {
        assert_eq!(
            with(&[("SmsAllowedRegions", regions)]),
            ["RussianSmsNeedsASenderId"],
            "{regions}"
        );
        assert_eq!(
            with(&[("SmsAllowedRegions", regions), ("SmsSenderId", "MYBRAND")]),
            Vec::<String>::new(),
            "{regions} with a sender ID"
        );
    }
    assert_eq!(
        with(&[("SmsAllowedRegions", "KZ,UZ")]),
        Vec::<String>::new()
    );
    // Simulated SMS go nowhere: no sender ID needed.
    assert_eq!(
        rules_broken_by(&[("SmsAllowedRegions", "RU")]),
        Vec::<String>::new()
    );
    // The rule can only look for RU in a list, so the parameter is one, in upper case.
    let doc = crate::stack::template();
    let param = &doc["Parameters"]["SmsAllowedRegions"];
    assert_eq!(param["Type"].as_str(), Some("CommaDelimitedList"));
    assert_eq!(param["AllowedPattern"].as_str(), Some("^(\\*|[A-Z]{2})$"));
    let joined = format!(
        "{:?}",
        doc["Globals"]["Function"]["Environment"]["Variables"]["SMS_ALLOWED_REGIONS"]
    );
    assert!(
        joined.contains("Join") && joined.contains("SmsAllowedRegions"),
        "{joined}"
    );
}

#[test]
fn the_edge_is_refused_without_its_web_acl() {
    assert_eq!(rules_broken_by(&[("Edge", "true")]), ["EdgeNeedsItsWebAcl"]);
    assert_eq!(
        rules_broken_by(&[("Edge", "true"), ("EdgeWebAclArn", WEB_ACL)]),
        Vec::<String>::new()
    );
    assert_eq!(
        rules_broken_by(&[]),
        Vec::<String>::new(),
        "the demo has no edge"
    );
}
