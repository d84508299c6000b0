//! A subscription to channels, on either engine: `SUBSCRIBE` on a dedicated
//! connection to one server, or sharded pub/sub (`SSUBSCRIBE`, on the
//! primary that owns the channels' slot) on a cluster. The subscription ends
//! when its connection is lost (or the cluster moves the slot): messages
//! published meanwhile are gone, and the caller must know it.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::UnboundedReceiver;

/// One message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub channel: String,
    pub payload: Vec<u8>,
}

/// A live subscription; `next` yields its messages until it is lost.
pub struct Subscription {
    messages: Messages,
}

enum Messages {
    Single(Pin<Box<dyn Stream<Item = redis::Msg> + Send>>),
    Cluster {
        /// Kept open for as long as the subscription lives.
        _connection: ClusterConnection,
        pushes: UnboundedReceiver<PushInfo>,
    },
}

impl Subscription {
    pub(super) fn single(pubsub: redis::aio::PubSub) -> Self {
        Self {
            messages: Messages::Single(Box::pin(pubsub.into_on_message())),
        }
    }

    pub(super) fn cluster(
        connection: ClusterConnection,
        pushes: UnboundedReceiver<PushInfo>,
    ) -> Self {
        Self {
            messages: Messages::Cluster {
                _connection: connection,
                pushes,
            },
        }
    }

    /// The next message; `None` once the subscription is lost.
    pub async fn next(&mut self) -> Option<Message> {
        match &mut self.messages {
            Messages::Single(messages) => {
                let message = messages.next().await?;
                Some(Message {
                    channel: message.get_channel_name().to_owned(),
                    payload: message.get_payload_bytes().to_vec(),
                })
            }
            Messages::Cluster { pushes, .. } => loop {
                let push = pushes.recv().await?;
                match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        if let Some(message) = message_of(push.data) {
                            return Some(message);
                        }
                    }
                    // The connection dropped, or the server let go of the
                    // channels (their slot moved): whatever comes after may
                    // have missed messages.
                    PushKind::Disconnection | PushKind::SUnsubscribe | PushKind::Unsubscribe => {
                        return None;
                    }
                    _ => {}
                }
            },
        }
    }
}

/// The channel and payload of a pushed message (`[channel, payload]`).
fn message_of(data: Vec<Value>) -> Option<Message> {
    let mut data = data.into_iter();
    match (data.next()?, data.next()?) {
        (Value::BulkString(channel), Value::BulkString(payload)) => Some(Message {
            channel: String::from_utf8(channel).ok()?,
            payload,
        }),
        _ => None,
    }
}
