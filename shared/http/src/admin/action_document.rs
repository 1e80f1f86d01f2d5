//! What the registered platforms bring to the OpenAPI document: their account kinds' settings
//! and credentials schemas ([`add_account_kinds`]), their complaint actions (one path per action
//! name, its request body from the platforms' body types with the rules between fields each
//! platform states, its answer: [`add_actions`]) and their account routes
//! ([`add_account_actions`]).

use desk_core::platform::Platforms;
use desk_core::staff_actions::{SchemaOf, StaffAction};
use serde_json::{Map, Value, json};

/// `base` with the keys of `rule` added (or replaced).
pub fn merged(mut base: Value, rule: Value) -> Value {
    if let (Some(b), Value::Object(r)) = (base.as_object_mut(), rule) {
        b.extend(r);
    }
    base
}

/// A schema as JSON, with the schemas it refers to.
fn schema_json(s: &SchemaOf) -> (Value, Vec<(String, Value)>) {
    let own = serde_json::to_value(s.schema()).unwrap_or(Value::Null);
    let nested = s
        .nested()
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null)))
        .collect();
    (own, nested)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Put `s` (and what it refers to) among the component schemas, once; a reference to it.
fn component(schemas: &mut Map<String, Value>, s: &SchemaOf) -> Value {
    let name = s.name();
    if !schemas.contains_key(&name) {
        let (own, nested) = schema_json(s);
        schemas.insert(name.clone(), own);
        for (n, v) in nested {
            schemas.entry(n).or_insert(v);
        }
    }
    schema_ref(&name)
}

/// `refund-evidence` → `RefundEvidence`.
fn pascal(name: &str) -> String {
    name.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// The operation id of an action's path (`refund-progress` → `refund_progress`).
pub fn operation_id(action: &str) -> String {
    action.replace('-', "_")
}

/// Merge an action's rules between fields (and of single fields, under `properties`) into its
/// body's component schema.
fn merge_rules(schema: &mut Value, rules: Value) {
    let (Some(target), Value::Object(rules)) = (schema.as_object_mut(), rules) else {
        return;
    };
    for (key, rule) in rules {
        match (key.as_str(), rule) {
            ("properties", Value::Object(props)) => {
                for (field, r) in props {
                    let prop = &mut target.entry("properties").or_insert_with(|| json!({}))
                        [field.as_str()];
                    *prop = merged(prop.take(), r);
                }
            }
            (_, rule) => {
                target.insert(key, rule);
            }
        }
    }
}

/// Merge a kind's settings rules into its settings schema like [`merge_rules`]; the fields a
/// rule names that the schema lacks are left out and returned (`Schema.field`).
fn merge_settings_rules(schema: &mut Value, rules: Value, name: &str) -> Vec<String> {
    let mut rules = rules;
    let mut missing = Vec::new();
    if let Some(props) = rules.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|field, _| {
            let found = schema["properties"].get(field.as_str()).is_some();
            if !found {
                missing.push(format!("{name}.{field}"));
            }
            found
        });
    }
    merge_rules(schema, rules);
    missing
}

/// Put a kind's settings or credentials schema among the components (once per name); a
/// reference to it. A name the desk's own schemas have, or two different types of one name,
/// is a problem (returned, and the first schema of the name stays).
fn place_kind_schema(
    schemas: &mut Map<String, Value>,
    brought: &mut Map<String, Value>,
    s: &SchemaOf,
    problems: &mut Vec<String>,
) -> Value {
    let name = s.name();
    let (own, _) = schema_json(s);
    match brought.get(&name) {
        Some(first) if *first != own => {
            problems.push(format!("{name}: two different schemas have this name"));
        }
        Some(_) => {}
        None if schemas.contains_key(&name) => {
            problems.push(format!("{name}: the name of one of the desk's own schemas"));
        }
        None => {
            brought.insert(name.clone(), own);
        }
    }
    component(schemas, s)
}

/// The account kinds of the registered platforms: each kind's settings and credentials schemas
/// as components (with the rules its platform states about its settings merged in);
/// `AccountSettings` (an account's `kind` and `settings`, as shown) as `oneOf` an object per
/// kind; the bodies that carry settings or credentials (`POST /accounts`' `settings` and
/// `credentials`, `PUT /accounts/{id}/credentials`) as `anyOf` the kinds' schemas (kinds may
/// share a type, and the bodies of different kinds overlap, so `oneOf` would refuse bodies the
/// server accepts); `kind`'s description says which schemas go with which kind, and
/// `PatchAccount`'s which settings only a scope-`all` token may change. Returns what could not
/// be documented as the platforms state it: a rule naming a field its settings schema lacks
/// (`Schema.field`), two kinds of one settings type stating different rules, a schema name
/// taken by another schema.
pub fn add_account_kinds(doc: &mut Value, platforms: &Platforms) -> Vec<String> {
    let mut schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut brought = Map::new();
    let mut rules_of: Map<String, Value> = Map::new();
    let mut shown = Vec::new();
    let mut settings = Vec::new();
    let mut credentials = Vec::new();
    let mut which = Vec::new();
    let mut guarded = Vec::new();
    for spec in platforms.account_kinds() {
        let name = spec.settings_schema.name();
        let reference = place_kind_schema(
            &mut schemas,
            &mut brought,
            &spec.settings_schema,
            &mut problems,
        );
        if let Some(rules) = spec.settings_rules {
            let rules = rules();
            match rules_of.get(&name) {
                Some(first) if *first != rules => problems.push(format!(
                    "{name}: kinds of this settings type state different rules"
                )),
                Some(_) => {}
                None => {
                    rules_of.insert(name.clone(), rules.clone());
                    if let Some(schema) = schemas.get_mut(&name) {
                        problems.extend(merge_settings_rules(schema, rules, &name));
                    }
                }
            }
        }
        let kind = spec.facts.kind.as_str();
        shown.push(json!({
            "type": "object",
            "required": ["kind", "settings"],
            "properties": {"kind": {"type": "string", "enum": [kind]}, "settings": reference},
        }));
        if !settings.contains(&reference) {
            settings.push(reference);
        }
        let takes = match &spec.credentials_schema {
            Some(c) => {
                let r = place_kind_schema(&mut schemas, &mut brought, c, &mut problems);
                if !credentials.contains(&r) {
                    credentials.push(r);
                }
                format!("credentials {}", c.name())
            }
            None => "no credentials".to_string(),
        };
        which.push(format!("`{kind}`: settings {name}, {takes}"));
        if !spec.guarded.is_empty() {
            let fields = spec
                .guarded
                .iter()
                .map(|g| format!("`settings.{}`", g.path))
                .collect::<Vec<_>>()
                .join(", ");
            guarded.push(format!("{kind}: {fields}"));
        }
    }
    let which = which.join("; ");
    if !shown.is_empty() {
        schemas.insert(
            "AccountSettings".into(),
            json!({
                "oneOf": shown,
                "description": "The account's kind and its settings, of the schema its platform gives the kind.",
            }),
        );
    }
    if let Some(create) = schemas
        .get_mut("CreateAccount")
        .and_then(|c| c.get_mut("properties"))
    {
        if !settings.is_empty() {
            create["settings"] = json!({
                "type": "object",
                "anyOf": settings,
                "description": "The kind's settings (see `kind`), checked by the kind's platform.",
            });
        }
        if !credentials.is_empty() {
            let mut any = credentials.clone();
            any.push(json!({"type": "null"}));
            create["credentials"] = json!({
                "anyOf": any,
                "description": "Optional: the kind's credentials (see `kind`), the same body as `PUT /accounts/{id}/credentials`.",
            });
        }
        if !which.is_empty() {
            create["kind"]["description"] = json!(format!(
                "An account kind of a platform this build serves. Its settings and credentials: {which}."
            ));
        }
    }
    if !guarded.is_empty()
        && let Some(patch) = schemas.get_mut("PatchAccount")
    {
        patch["description"] = json!(format!(
            "`PATCH /accounts/{{id}}`: fields given replace; `settings` is a JSON merge patch (RFC 7396). Only a scope-`all` token may change the settings that decide where the account's stored secrets are sent or what it trusts (403 naming the field; sending the stored value is no change): {}.",
            guarded.join("; ")
        ));
    }
    doc["components"]["schemas"] = Value::Object(schemas);
    let put = &mut doc["paths"][format!("{}/accounts/{{id}}/credentials", crate::http::ADMIN_BASE)]
        ["put"]["requestBody"];
    if put.is_object() && !credentials.is_empty() {
        put["content"]["application/json"]["schema"] = json!({"anyOf": credentials});
        put["description"] = json!(format!(
            "The credentials of the account's kind, checked by its platform ({which}). Omitted fields keep their value, null clears, a value replaces."
        ));
    }
    problems
}

/// The complaint actions of the registered platforms: one path per action name
/// (`/admin/v1/complaints/{id}/{name}`). Its request body is the body schema of the platforms
/// that offer it: one schema when they share the type, otherwise a schema named after the
/// action that is `anyOf` theirs (the server takes whichever the complaint's platform takes;
/// the bodies may overlap, so `oneOf` would refuse bodies the server accepts). Its answer is
/// the action's answer schema, a refund's record for `refund`.
pub fn add_actions(doc: &mut Value, platforms: &Platforms) {
    // Each name with the platforms offering it, in registration order.
    let mut by_name: Vec<(&'static str, Vec<(&'static str, StaffAction)>)> = Vec::new();
    for p in platforms.iter() {
        for a in p.staff_actions().actions() {
            let offer = (p.name().as_str(), a);
            match by_name.iter_mut().find(|(n, _)| *n == offer.1.name) {
                Some((_, offers)) => offers.push(offer),
                None => by_name.push((offer.1.name, vec![offer])),
            }
        }
    }
    let mut schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (name, offers) in by_name {
        let mut bodies: Vec<Value> = Vec::new();
        let mut answers: Vec<Value> = Vec::new();
        for (_, a) in &offers {
            let body = component(&mut schemas, &a.body);
            if let Some(rules) = a.body_rules
                && let Some(s) = schemas.get_mut(&a.body.name())
            {
                merge_rules(s, rules());
            }
            if !bodies.contains(&body) {
                bodies.push(body);
            }
            let answer = component(&mut schemas, &a.answer);
            if !answers.contains(&answer) {
                answers.push(answer);
            }
        }
        let which = offers
            .iter()
            .map(|(p, a)| format!("{p} ({}: {})", a.body.name(), a.summary))
            .collect::<Vec<_>>()
            .join("; ");
        let body = if bodies.len() == 1 {
            bodies.remove(0)
        } else {
            let mut composite = format!("{}Body", pascal(name));
            if schemas.contains_key(&composite) {
                composite = format!("{}ActionBody", pascal(name));
            }
            schemas.insert(
                composite.clone(),
                json!({
                    "anyOf": bodies,
                    "description": format!("The body of the complaint's platform: {which}."),
                }),
            );
            schema_ref(&composite)
        };
        let answer = if answers.len() == 1 {
            answers.remove(0)
        } else {
            json!({"anyOf": answers})
        };
        let required = offers.iter().all(|(_, a)| a.body_required);
        let mut description = format!(
            "Offered on the complaints of: {which}. Checked in this order: the complaint (404, also outside the token's scope), whether its platform has the action (409, naming those it has), the body (400 naming the field)."
        );
        if !required {
            description.push_str(" The body may be left out where the platform's body is optional: an empty body sends the defaults.");
        }
        let op = json!({
            "tags": ["complaints"],
            "summary": offers.first().map(|(_, a)| a.summary).unwrap_or_default(),
            "description": description,
            "operationId": operation_id(name),
            "parameters": [{"name": "id", "in": "path", "required": true, "description": "Our complaint id", "schema": {"type": "string"}}],
            "requestBody": {
                "content": {"application/json": {"schema": body}},
                "required": required,
            },
            "responses": {
                "200": {"description": "Sent to the platform and written to the action log", "content": {"application/json": {"schema": answer}}},
                "404": {"description": "No such complaint, or outside the token's scope"},
                "409": {"description": "The complaint's platform has no such action (the message names those it has), its credentials are incomplete, or the platform says the complaint's state does not allow it"},
                "502": {"description": "The platform refused (its code and message are passed on)"},
            },
            "security": [{"bearer": []}],
        });
        paths.insert(
            format!("{}/complaints/{{id}}/{name}", crate::http::ADMIN_BASE),
            json!({"post": op}),
        );
    }
    doc["components"]["schemas"] = Value::Object(schemas);
    doc["paths"] = Value::Object(paths);
}

/// The account routes of the registered platforms (`/admin/v1/accounts/{id}/{name}`): one
/// operation per route and method, tagged `accounts`, with its body and answer schemas (204
/// without content when it has no answer) and the errors every account route can give (404
/// for an unknown account or one outside the token's scope, 409 when the account's kind lacks
/// the route or its stored state does not allow it, 502 when the platform refuses). A name and
/// method offered by two platforms is documented once, as the first registered states it.
pub fn add_account_actions(doc: &mut Value, platforms: &Platforms) {
    let mut schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": schema_ref("ErrorBody")}},
        })
    };
    for p in platforms.iter() {
        for a in p.account_actions().actions() {
            if !super::path_ids::account_route_allowed(a.name) {
                continue;
            }
            let path = format!("{}/accounts/{{id}}/{}", crate::http::ADMIN_BASE, a.name);
            let item = paths.entry(path).or_insert_with(|| json!({}));
            if item.get(a.method.as_str()).is_some() {
                continue;
            }
            let mut id =
                json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
            if let Some(d) = a.id_description {
                id["description"] = json!(d);
            }
            let success = match &a.answer {
                Some(answer) => (
                    "200",
                    json!({
                        "description": a.answer_description.unwrap_or_default(),
                        "content": {"application/json": {"schema": component(&mut schemas, answer)}},
                    }),
                ),
                None => (
                    "204",
                    json!({"description": a.answer_description.unwrap_or_default()}),
                ),
            };
            let mut op = json!({
                "tags": ["accounts"],
                "operationId": a.operation_id,
                "parameters": [id],
                "responses": {
                    success.0: success.1,
                    "404": error(""),
                    "409": error(""),
                },
                "security": [{"bearer": []}],
            });
            // A route that calls its platform passes on the platform's refusals.
            if a.spends_budget {
                op["responses"]["502"] = error("");
            }
            if let Some(s) = a.summary {
                op["summary"] = json!(s);
            }
            if let Some(query) = &a.query {
                let (own, _) = schema_json(query);
                let required: Vec<&str> = own["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if let (Some(props), Some(params)) = (
                    own["properties"].as_object(),
                    op["parameters"].as_array_mut(),
                ) {
                    for (name, schema) in props {
                        let mut schema = schema.clone();
                        let description =
                            schema.as_object_mut().and_then(|o| o.remove("description"));
                        let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema});
                        if let Some(d) = description {
                            p["description"] = d;
                        }
                        params.push(p);
                    }
                }
                op["responses"]["400"] = error("A query parameter is wrong (the message names it)");
            }
            if let Some(body) = &a.body {
                op["requestBody"] = json!({
                    "content": {"application/json": {"schema": component(&mut schemas, body)}},
                    "required": true,
                });
            }
            item[a.method.as_str()] = op;
        }
    }
    doc["components"]["schemas"] = Value::Object(schemas);
    doc["paths"] = Value::Object(paths);
}
