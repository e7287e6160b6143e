//! What a realtime session reads to resume: topic heads and events from the log.

use futures_util::future::BoxFuture;

use super::Services;
use crate::{
    domain::{DomainError, Event, Topic, TopicHead},
    realtime::session::EventSource,
};

impl EventSource for Services {
    fn head(&self, topic: Topic) -> BoxFuture<'_, Result<Option<TopicHead>, DomainError>> {
        Box::pin(self.store.topic_head(topic))
    }

    fn between(
        &self,
        topic: Topic,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> BoxFuture<'_, Result<Vec<Event>, DomainError>> {
        Box::pin(self.store.events_between(topic, after, up_to, limit))
    }
}
