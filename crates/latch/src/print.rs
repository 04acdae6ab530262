//! Text output for admin commands (or the API's JSON with `--json`).

use serde_json::Value;

use crate::admin::Action;

pub fn print(action: &Action, v: &Value, as_json: bool) {
    if as_json {
        if !v.is_null() {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        }
        return;
    }
    match action {
        Action::ListSessions(_) => sessions(v),
        Action::RevokeSession(id) => println!("revoked session {id}"),
        Action::RevokeAll(_, _) => println!("revoked {} session(s)", v["revoked"]),
        Action::GetUser(_) | Action::SetStatus(..) | Action::SetRoles(..) => user(v),
        Action::CreateKey(_) => println!(
            "created API key {} ({})\n\n    {}\n\nIt is shown only this once; only its hash is kept.",
            s(&v["id"]),
            s(&v["name"]),
            s(&v["key"])
        ),
        Action::ListKeys => {
            for k in v["api_keys"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  created {}",
                    s(&k["id"]),
                    s(&k["name"]),
                    s(&k["created_at"])
                );
            }
        }
        Action::RevokeKey(id) => println!("revoked API key {id}"),
        Action::ListSigningKeys => signing_keys(v),
        Action::RotateSigningKeys { .. } => {
            if v["already_pending"] == true {
                println!(
                    "a rotation is already pending: key {} signs from {}",
                    s(&v["kid"]),
                    s(&v["signs_from"])
                );
            } else {
                println!(
                    "new signing key {}: published now, signs from {}",
                    s(&v["kid"]),
                    s(&v["signs_from"])
                );
            }
        }
    }
}

fn signing_keys(v: &Value) {
    println!(
        "{:<43}  {:<8}  {:<20}  {:<20}  PUBLISHED UNTIL",
        "KEY ID", "STATE", "SIGNS FROM", "SIGNS UNTIL"
    );
    for k in v["keys"].as_array().into_iter().flatten() {
        println!(
            "{:<43}  {:<8}  {:<20}  {:<20}  {}",
            s(&k["kid"]),
            s(&k["state"]),
            s(&k["signs_from"]),
            s(&k["signs_until"]),
            s(&k["published_until"])
        );
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn sessions(v: &Value) {
    let list = v["sessions"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no live sessions");
        return;
    }
    println!(
        "{:<32}  {:<20}  {:<20}  {:<15}  USER AGENT",
        "SESSION", "CREATED", "LAST SEEN", "IP"
    );
    for x in list {
        println!(
            "{:<32}  {:<20}  {:<20}  {:<15}  {}",
            s(&x["id"]),
            s(&x["created_at"]),
            s(&x["last_seen_at"]),
            s(&x["device"]["ip"]),
            s(&x["device"]["user_agent"])
        );
    }
}

fn user(v: &Value) {
    println!("user:       {}", s(&v["id"]));
    println!("status:     {}", s(&v["status"]));
    let roles: Vec<&str> = v["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "roles:      {}",
        if roles.is_empty() {
            "-".to_owned()
        } else {
            roles.join(", ")
        }
    );
    println!("attributes: {}", v["attributes"]);
}
