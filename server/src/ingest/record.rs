//! The CloudTrail record as read off the wire: only the fields Cairn indexes, borrowed
//! from the input where possible. Every string may be hostile; a field of the wrong JSON
//! type is read as absent instead of failing the whole record.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A string field that tolerates any JSON type: a boolean or a whole number reads as its
/// JSON text, anything else as `None`; the flag says it held something other than text,
/// null, a boolean or a whole number.
#[derive(Debug, Default, Clone)]
pub struct Text<'a>(pub Option<Cow<'a, str>>, pub bool);

impl<'a> Text<'a> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
    /// Held a fraction, an array or an object.
    pub fn odd(&self) -> bool {
        self.1
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v)), false))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned())), false))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v)), false))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(if v { "true" } else { "false" })), false))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string())), false))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string())), false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(None, true))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None, false))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None, false))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Text::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None, true))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None, true))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object-valued field that tolerates other JSON types (read as absent, an array too); the flag says
/// it held something that is neither null nor readable as `T`.
#[derive(Debug)]
pub struct Obj<T>(pub Option<T>, pub bool);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None, false)
    }
}

impl<T> Obj<T> {
    /// Held something other than null or a readable `T`.
    pub fn odd(&self) -> bool {
        self.1
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = match <&RawValue>::deserialize(d) {
            Ok(r) => r,
            Err(e) => return Err(e),
        };
        let text = raw.get();
        // Only an object: a derived struct would also read an array, field by position.
        Ok(match text.starts_with('{').then(|| serde_json::from_str(text)) {
            Some(Ok(v)) => Obj(Some(v), false),
            _ => Obj(None, text != "null"),
        })
    }
}

/// An array-valued field that tolerates other JSON types (read as absent).
#[derive(Debug)]
pub struct List<T>(pub Option<Vec<T>>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = <&RawValue>::deserialize(d)?;
        let text = raw.get();
        Ok(List(text.starts_with('[').then(|| serde_json::from_str(text).ok()).flatten()))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow, default)]
    pub event_time: Text<'a>,
    #[serde(borrow, default)]
    pub event_version: Text<'a>,
    #[serde(borrow, default)]
    pub event_source: Text<'a>,
    #[serde(borrow, default)]
    pub event_name: Text<'a>,
    #[serde(borrow, default)]
    pub aws_region: Text<'a>,
    #[serde(borrow, default, rename = "sourceIPAddress")]
    pub source_ip_address: Text<'a>,
    #[serde(borrow, default)]
    pub user_agent: Text<'a>,
    #[serde(borrow, default)]
    pub error_code: Text<'a>,
    #[serde(borrow, default)]
    pub error_message: Text<'a>,
    #[serde(borrow, default, rename = "requestID")]
    pub request_id: Text<'a>,
    #[serde(borrow, default, rename = "eventID")]
    pub event_id: Text<'a>,
    #[serde(borrow, default)]
    pub event_type: Text<'a>,
    #[serde(borrow, default)]
    pub event_category: Text<'a>,
    #[serde(borrow, default)]
    pub read_only: Text<'a>,
    #[serde(borrow, default)]
    pub recipient_account_id: Text<'a>,
    #[serde(borrow, default, rename = "sharedEventID")]
    pub shared_event_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_identity: Obj<UserIdentity<'a>>,
    #[serde(borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub service_event_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub resources: List<Obj<ResourceRef<'a>>>,
    #[serde(borrow, default)]
    pub insight_details: Obj<InsightDetails<'a>>,
    /// Aggregated events (5-minute summaries of data events) name their ID `eventId`,
    /// their account `accountId`, and have a `timeWindow` instead of an `eventTime`.
    #[serde(borrow, default, rename = "eventId")]
    pub event_id_aggregated: Text<'a>,
    #[serde(borrow, default)]
    pub account_id: Text<'a>,
    #[serde(borrow, default)]
    pub time_window: Obj<TimeWindow<'a>>,
    #[serde(borrow, default)]
    pub summary: Obj<Summary<'a>>,
}

/// The window an aggregated event summarises.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeWindow<'a> {
    #[serde(borrow, default)]
    pub window_start: Text<'a>,
}

/// What an aggregated event summarises by (`eventName`, `resourceARN`, `userIdentity`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    #[serde(borrow, default)]
    pub primary_dimension: Obj<PrimaryDimension<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryDimension<'a> {
    #[serde(borrow, default)]
    pub dimension: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub principal_id: Text<'a>,
    #[serde(borrow, default)]
    pub arn: Text<'a>,
    #[serde(borrow, default)]
    pub account_id: Text<'a>,
    #[serde(borrow, default)]
    pub access_key_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_name: Text<'a>,
    #[serde(borrow, default)]
    pub invoked_by: Text<'a>,
    #[serde(borrow, default)]
    pub identity_provider: Text<'a>,
    #[serde(borrow, default)]
    pub session_context: Obj<SessionContext<'a>>,
    #[serde(borrow, default)]
    pub on_behalf_of: Obj<OnBehalfOf<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow, default)]
    pub session_issuer: Obj<SessionIssuer<'a>>,
    #[serde(borrow, default)]
    pub source_identity: Text<'a>,
    #[serde(borrow, default)]
    pub web_id_federation_data: Obj<WebIdFederation<'a>>,
    #[serde(borrow, default)]
    pub attributes: Obj<SessionAttributes<'a>>,
    #[serde(borrow, default)]
    pub ec2_role_delivery: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub principal_id: Text<'a>,
    #[serde(borrow, default)]
    pub arn: Text<'a>,
    #[serde(borrow, default)]
    pub account_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_name: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebIdFederation<'a> {
    #[serde(borrow, default)]
    pub federated_provider: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes<'a> {
    #[serde(borrow, default)]
    pub mfa_authenticated: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnBehalfOf<'a> {
    #[serde(borrow, default)]
    pub user_id: Text<'a>,
    #[serde(borrow, default)]
    pub identity_store_arn: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResourceRef<'a> {
    #[serde(borrow, default, rename = "ARN")]
    pub arn: Text<'a>,
    #[serde(borrow, default, rename = "accountId")]
    pub account_id: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightDetails<'a> {
    #[serde(borrow, default)]
    pub event_source: Text<'a>,
    #[serde(borrow, default)]
    pub event_name: Text<'a>,
}

/// The request parameters Cairn turns into resources. Unknown keys are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestParams<'a> {
    #[serde(borrow, default)]
    pub bucket_name: Text<'a>,
    #[serde(borrow, default)]
    pub key: Text<'a>,
    #[serde(borrow, default)]
    pub instance_id: Text<'a>,
    #[serde(borrow, default)]
    pub instances_set: Obj<ItemsOf<InstanceItem<'a>>>,
    #[serde(borrow, default)]
    pub group_id: Text<'a>,
    #[serde(borrow, default)]
    pub role_name: Text<'a>,
    #[serde(borrow, default)]
    pub role_arn: Text<'a>,
    #[serde(borrow, default)]
    pub user_name: Text<'a>,
    #[serde(borrow, default)]
    pub policy_arn: Text<'a>,
    #[serde(borrow, default)]
    pub function_name: Text<'a>,
    #[serde(borrow, default)]
    pub key_id: Text<'a>,
    #[serde(borrow, default)]
    pub name: Text<'a>,
    #[serde(borrow, default)]
    pub trail_name: Text<'a>,
    #[serde(borrow, default)]
    pub snapshot_id: Text<'a>,
    #[serde(borrow, default)]
    pub image_id: Text<'a>,
    #[serde(borrow, default, rename = "dBSnapshotIdentifier")]
    pub db_snapshot_identifier: Text<'a>,
    #[serde(borrow, default)]
    pub secret_id: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ItemsOf<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceItem<'a> {
    #[serde(borrow, default)]
    pub instance_id: Text<'a>,
}

/// The response elements of a call that issues temporary credentials.
#[derive(Debug, Default, Deserialize)]
pub struct IssuedCredentialsResponse<'a> {
    #[serde(borrow, default)]
    pub credentials: Obj<CredentialsElem<'a>>,
    #[serde(borrow, default, rename = "assumedRoleUser")]
    pub assumed_role_user: Obj<AssumedRoleUser<'a>>,
    #[serde(borrow, default, rename = "sourceIdentity")]
    pub source_identity: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsElem<'a> {
    #[serde(borrow, default)]
    pub access_key_id: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssumedRoleUser<'a> {
    #[serde(borrow, default)]
    pub arn: Text<'a>,
}

/// One element of a `LookupEvents` response.
#[derive(Debug, Default, Deserialize)]
pub struct LookupElement<'a> {
    #[serde(borrow, default, rename = "CloudTrailEvent")]
    pub cloudtrail_event: Text<'a>,
}
