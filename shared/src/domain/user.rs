//! Users and referrals as the rest of the code sees them.
use super::{InviteCode, PhoneNumber};

/// Opaque, random user id (UUID v4); the JWT subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// An id from a verified token or our own table.
    pub fn from_trusted(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The invite code this user activated, whose it was, and when (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub invite_code: InviteCode,
    pub referrer: UserId,
    pub activated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub phone: PhoneNumber,
    pub invite_code: InviteCode,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Bumped by logout; tokens carrying an older version are refused.
    pub token_version: u64,
    pub activation: Option<Activation>,
    pub referrals_count: u64,
}

impl User {
    /// A user as the first successful login creates them.
    pub fn new(phone: PhoneNumber, now_ms: i64) -> Self {
        Self {
            id: UserId::generate(),
            phone,
            invite_code: InviteCode::generate(),
            created_at: now_ms,
            token_version: 0,
            activation: None,
            referrals_count: 0,
        }
    }
}

/// Someone who activated my code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub user_id: UserId,
    pub phone: PhoneNumber,
    pub activated_at: i64,
}

impl Referral {
    /// Where a page that ends with this referral stops; the next page starts after it.
    pub fn key(&self) -> ReferralKey {
        ReferralKey {
            activated_at: self.activated_at,
            user_id: self.user_id.clone(),
        }
    }
}

/// A position in a referrer's list (newest first): the activation time and the user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralKey {
    pub activated_at: i64,
    pub user_id: UserId,
}

/// Why an invite code cannot be activated. The same rules hold under races: the activation
/// transaction in `store` writes only if the user still has no `referrer_id`
/// (`AlreadyActivated`) and no activation links the two users yet, either way round (the pair's
/// claim: `Mutual`). Who holds a code is read before it (codes never change hands: `NotFound`,
/// `OwnCode`). When a condition fails, the items as they stood go through [`User::activate`]
/// again, so the refusal comes from here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActivationRefused {
    #[error("an invite code was already activated on this account")]
    AlreadyActivated,
    #[error("no user has this invite code")]
    NotFound,
    #[error("this is your own invite code")]
    OwnCode,
    #[error("this code's owner already activated your code")]
    Mutual,
}

/// What the activation rules need to know of the code's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub id: UserId,
    pub invite_code: InviteCode,
    /// Who referred the holder; `None` also when it was not read (the pair's claim in the
    /// store's transaction still checks it).
    pub referred_by: Option<UserId>,
}

impl From<&User> for Referrer {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            invite_code: u.invite_code.clone(),
            referred_by: u.activation.as_ref().map(|a| a.referrer.clone()),
        }
    }
}

impl User {
    /// Activating `code`, held by `holder` (if anyone holds it): once in a lifetime, never my own
    /// code, never the code of someone I referred.
    pub fn activate(
        &self,
        code: &InviteCode,
        holder: Option<&Referrer>,
        now_ms: i64,
    ) -> Result<Activation, ActivationRefused> {
        if self.activation.is_some() {
            return Err(ActivationRefused::AlreadyActivated);
        }
        let holder = holder
            .filter(|h| h.invite_code == *code)
            .ok_or(ActivationRefused::NotFound)?;
        if holder.id == self.id {
            return Err(ActivationRefused::OwnCode);
        }
        if holder.referred_by.as_ref() == Some(&self.id) {
            return Err(ActivationRefused::Mutual);
        }
        Ok(Activation {
            invite_code: code.clone(),
            referrer: holder.id.clone(),
            activated_at: now_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User::new(PhoneNumber::from_trusted("+79990000001".into()), 1_000)
    }

    #[test]
    fn a_first_activation_of_someone_elses_code_is_recorded() {
        let (me, them) = (user(), user());
        let activation = me
            .activate(&them.invite_code, Some(&Referrer::from(&them)), 5)
            .unwrap();
        assert_eq!(activation.referrer, them.id);
        assert_eq!(activation.invite_code, them.invite_code);
        assert_eq!(activation.activated_at, 5);
    }

    #[test]
    fn activating_a_second_code_is_rejected_and_keeps_the_first() {
        let (mut me, them, other) = (user(), user(), user());
        me.activation = Some(
            me.activate(&them.invite_code, Some(&Referrer::from(&them)), 5)
                .unwrap(),
        );
        let refused = me.activate(&other.invite_code, Some(&Referrer::from(&other)), 6);
        assert_eq!(refused, Err(ActivationRefused::AlreadyActivated));
        assert_eq!(me.activation.unwrap().referrer, them.id);
    }

    #[test]
    fn a_code_nobody_holds_any_more_is_not_found() {
        let (me, them) = (user(), user());
        assert_eq!(
            me.activate(&them.invite_code, None, 5),
            Err(ActivationRefused::NotFound)
        );
        let mut moved = Referrer::from(&them);
        moved.invite_code = InviteCode::from_trusted("ZZZZZZ".into());
        assert_eq!(
            me.activate(&them.invite_code, Some(&moved), 5),
            Err(ActivationRefused::NotFound)
        );
    }

    #[test]
    fn my_own_code_and_the_code_of_someone_i_referred_are_refused() {
        let (me, mut them) = (user(), user());
        assert_eq!(
            me.activate(&me.invite_code, Some(&Referrer::from(&me)), 5),
            Err(ActivationRefused::OwnCode)
        );
        them.activation = Some(Activation {
            invite_code: me.invite_code.clone(),
            referrer: me.id.clone(),
            activated_at: 4,
        });
        assert_eq!(
            me.activate(&them.invite_code, Some(&Referrer::from(&them)), 5),
            Err(ActivationRefused::Mutual)
        );
    }
}
