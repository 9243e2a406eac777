//! `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for and prints as they come.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::table_columns;
use crate::resources::ResourceType;

/// One column: header, cell type, and priority (1 = only with `-o wide`).
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub priority: u8,
}

pub(crate) const fn column(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        priority,
    }
}

pub(crate) fn table(rt: &ResourceType, items: &[&Value], now: Timestamp, rv: u64) -> Value {
    let layout = table_columns::for_resource(rt);
    let columns: Vec<Value> = layout
        .columns
        .iter()
        .map(|c| {
            let mut def = json!({
                "name": c.name, "type": c.kind, "format": "", "description": c.name,
                "priority": c.priority,
            });
            if c.name == "Name" {
                def["format"] = json!("name");
            }
            def
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|object| {
            json!({
                "cells": (layout.cells)(object, now),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// How long ago `timestamp` (RFC 3339) was, written as kubectl writes ages.
pub(crate) fn age(timestamp: Option<&str>, now: Timestamp) -> String {
    let Some(then) = timestamp.and_then(|t| t.parse::<Timestamp>().ok()) else {
        return "<unknown>".to_owned();
    };
    human_duration(now.as_second() - then.as_second())
}

/// Kubernetes' `duration.HumanDuration`.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = s / 3600;
    let days = hours / 24;
    let years = days / 365;
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    if s < 120 {
        format!("{s}s")
    } else if minutes < 10 {
        pair(minutes, "m", s % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        pair(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        pair(days, "d", hours % 24, "h")
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        pair(years, "y", days % 365, "d")
    } else {
        format!("{years}y")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    #[test]
    fn durations_read_like_kubectl() {
        for (seconds, expected) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 7200, "3d2h"),
            (30 * 86400, "30d"),
        ] {
            assert_eq!(human_duration(seconds), expected);
        }
    }

    #[test]
    fn node_rows_show_scheduling_disabled_and_roles() {
        let nodes = resources::by_plural("", "nodes").expect("registered");
        let node = json!({
            "metadata": {"name": "n1", "creationTimestamp": "2026-11-23T11:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "true"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.31.4+k3s1"}},
        });
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let table = table(nodes, &[&node], now, 7);
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "n1");
        assert_eq!(cells[1], "Ready,SchedulingDisabled");
        assert_eq!(cells[2], "control-plane");
        assert_eq!(cells[3], "60m");
        assert_eq!(cells[4], "v1.31.4+k3s1");
    }
}
