//! Delivering login codes by SMS: simulated (a delay, then a log line) or through Amazon SNS.
//! An enum rather than a trait object: two real senders, chosen once per cold start.
//!
//! Every function's state holds an `Sms`, but only send-code sends. The SNS client is built by
//! [`Sms::prepare`] (send-code's `main`, during init) or on the first send, never by
//! [`Sms::from_config`], so no other function's code reaches the SNS client and the linker leaves
//! it out of their binaries, however cargo unified the workspace's features (`sam build` builds
//! each function from the workspace root). `scripts/check-deploy.sh` checks the bootstraps.
use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;

use crate::config::{Config, SmsSender, SmsSettings};
use crate::domain::{OtpCode, PhoneNumber};
use crate::sdk::BoxError;

pub enum Sms {
    /// Waits a random time in the inclusive range (milliseconds), as a real gateway would.
    Simulated { delay_ms: (u64, u64) },
    /// Amazon SNS, its client built at most once.
    Sns {
        settings: SmsSettings,
        sender: OnceLock<sns::SnsSender>,
    },
}

/// A delivery that did not happen (SNS refused, throttled or timed out).
#[derive(Debug, thiserror::Error)]
#[error("the SMS was not delivered")]
pub struct SmsError(#[source] pub BoxError);

impl Sms {
    pub fn from_config(config: &Config) -> Self {
        match config.sms.sender {
            SmsSender::Log => Self::Simulated {
                delay_ms: config.sms_delay_ms,
            },
            SmsSender::Sns => Self::Sns {
                settings: config.sms.clone(),
                sender: OnceLock::new(),
            },
        }
    }

    /// Builds the SNS client now, if SMS go through SNS: send-code calls it during init, which
    /// Lambda runs before the first request is handed over.
    pub fn prepare(&self) {
        if let Self::Sns { settings, sender } = self {
            sender.get_or_init(|| sns::SnsSender::new(settings));
        }
    }

    /// Delivers `text` to `phone`.
    pub async fn send(&self, phone: &PhoneNumber, text: &str) -> Result<(), SmsError> {
        match self {
            Self::Simulated { delay_ms: (lo, hi) } => {
                let delay = if hi > lo {
                    rand::rng().random_range(*lo..=*hi)
                } else {
                    *lo
                };
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _ = text;
                Ok(())
            }
            Self::Sns { settings, sender } => {
                let sender = sender.get_or_init(|| sns::SnsSender::new(settings));
                sender.send(phone, text).await
            }
        }
    }
}

/// The message for `code`: the template with `{code}` and `{minutes}` (the code's lifetime,
/// rounded up) filled in.
pub fn message(settings: &SmsSettings, code: &OtpCode, ttl_seconds: i64) -> String {
    let minutes = (ttl_seconds + 59) / 60;
    settings
        .template
        .replace("{code}", code.expose())
        .replace("{minutes}", &minutes.to_string())
}

mod sns {
    use aws_sdk_sns::Client;
    use aws_sdk_sns::types::MessageAttributeValue;

    use super::SmsError;
    use crate::config::SmsSettings;
    use crate::domain::PhoneNumber;

    /// SNS `Publish` straight to a phone number (no topic), as a transactional SMS: SNS then
    /// favours delivery over price and retries on the carriers' side.
    pub struct SnsSender {
        client: Client,
        attributes: Vec<(&'static str, String)>,
    }

    impl SnsSender {
        pub fn new(settings: &SmsSettings) -> Self {
            let mut config = aws_sdk_sns::config::Builder::from(&crate::sdk::sdk_config());
            if let Some(endpoint) = &settings.sns_endpoint {
                config = config.endpoint_url(endpoint);
            }
            let mut attributes = vec![("AWS.SNS.SMS.SMSType", "Transactional".to_owned())];
            if let Some(id) = &settings.sender_id {
                attributes.push(("AWS.SNS.SMS.SenderID", id.clone()));
            }
            if let Some(number) = &settings.origination_number {
                attributes.push(("AWS.MM.SMS.OriginationNumber", number.clone()));
            }
            Self {
                client: Client::from_conf(config.build()),
                attributes,
            }
        }

        pub async fn send(&self, phone: &PhoneNumber, text: &str) -> Result<(), SmsError> {
            let mut publish = self
                .client
                .publish()
                .phone_number(phone.as_str())
                .message(text);
            for (name, value) in &self.attributes {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| SmsError(Box::new(e)))?;
                publish = publish.message_attributes(*name, value);
            }
            publish
                .send()
                .await
                .map(|_| ())
                .map_err(|e| SmsError(Box::new(e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_SMS_TEMPLATE;

    #[test]
    fn the_message_carries_the_code_and_its_lifetime_in_minutes() {
        let settings = SmsSettings {
            sender: SmsSender::Log,
            sender_id: None,
            origination_number: None,
            template: DEFAULT_SMS_TEMPLATE.into(),
            sns_endpoint: None,
        };
        let code = OtpCode::parse("4821", 4).unwrap();
        let text = message(&settings, &code, 300);
        assert!(text.contains("4821") && text.contains(" 5 мин"), "{text}");
        assert!(message(&settings, &code, 61).contains(" 2 мин"));
    }
}
