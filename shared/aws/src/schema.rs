//! The table, queues and bucket as the SAM template creates them, for local emulators and
//! tests (the template in `infra/` is the source of truth in AWS).

use crate::records::attr;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use std::collections::HashMap;

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and key type are set")
}

fn string_attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn gsi(name: &str, pk: &str, sk: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash))
        .key_schema(key(sk, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index fields are set")
}

/// Create the records table (pk/sk, one GSI per secondary index of the record port,
/// on-demand).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    create_table_with(client, name, domain::ports::SECONDARY_INDEXES).await
}

/// Create the records table with only the first `indexes` GSIs (a table of an older version,
/// for upgrade tests).
pub async fn create_table_with(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    indexes: usize,
) -> Result<(), aws_sdk_dynamodb::Error> {
    let secondary =
        &domain::ports::Index::SECONDARY[..indexes.min(domain::ports::SECONDARY_INDEXES)];
    let mut attributes = vec![attr::PK.to_string(), attr::SK.to_string()];
    let mut gsis = Vec::new();
    for index in secondary {
        let (p, s) = attr::index_keys(*index);
        let name = attr::index_name(*index).unwrap_or_default();
        gsis.push(gsi(&name, &p, &s));
        attributes.push(p);
        attributes.push(s);
    }
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash))
        .key_schema(key(attr::SK, KeyType::Range))
        .set_attribute_definitions(Some(attributes.iter().map(|a| string_attr(a)).collect()))
        .set_global_secondary_indexes(Some(gsis))
        .send()
        .await?;
    Ok(())
}

/// Create a queue with its DLQ and a redrive policy; returns their URLs.
pub async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
) -> Result<crate::queue::QueueUrls, aws_sdk_sqs::Error> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(A::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .unwrap_or_default();
    let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string()});
    let url = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(HashMap::from([(
            A::RedrivePolicy,
            redrive.to_string(),
        )])))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    Ok(crate::queue::QueueUrls { url, dlq_url })
}
