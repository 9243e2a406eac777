//! The steps of the route, each with its commands, the check before the next step and its way
//! back. The order keeps the two-member window short: the node that has to be drained and
//! reinstalled joins while etcd still has one member to lose, and the third server, prepared
//! beforehand, joins right after it.

use super::{HaStep, HostCommand, ServerRef, StepCheck};
use crate::host::HostFacts;

/// Flags every server must share with the first (k3s refuses a join on a mismatch of these:
/// docs.k3s.io/cli/server, "Critical Configuration Values"), and the ones worth keeping.
const SHARED_FLAGS: [&str; 14] = [
    "disable",
    "cluster-cidr",
    "service-cidr",
    "cluster-dns",
    "cluster-domain",
    "disable-helm-controller",
    "disable-kube-proxy",
    "disable-network-policy",
    "disable-cloud-controller",
    "secrets-encryption",
    "flannel-backend",
    "egress-selector-mode",
    "write-kubeconfig-mode",
    "embedded-registry",
];

const BACKUP: &str = "/root/k3s-ha-backup";
const TOKEN_COPY: &str = "/root/k3s-cluster-token";

pub(super) struct Route {
    pub first: ServerRef,
    pub second: ServerRef,
    pub third: ServerRef,
    pub version: Option<String>,
    /// The first server still runs sqlite.
    pub sqlite: bool,
    /// Servers already running embedded etcd.
    pub etcd_servers: usize,
    /// `--flag value` words the joining servers repeat.
    pub join_flags: Vec<String>,
    pub data_dir: String,
}

/// The first server's flags a joining server must repeat, from its k3s arguments and, where
/// read, its merged configuration.
pub(super) fn join_flags(node_args: &[String], facts: Option<&HostFacts>) -> Vec<String> {
    let mut pairs: Vec<(String, String)> =
        crate::host::config::flags(node_args.get(1..).unwrap_or_default());
    if let Some(facts) = facts {
        for key in SHARED_FLAGS {
            if pairs.iter().any(|(k, _)| k == key) {
                continue;
            }
            for value in facts.config.values(key) {
                pairs.push((key.to_owned(), value));
            }
        }
    }
    pairs
        .into_iter()
        .filter(|(key, _)| SHARED_FLAGS.contains(&key.as_str()))
        .flat_map(|(key, value)| {
            if value == "true" {
                vec![format!("--{key}")]
            } else {
                vec![format!("--{key}"), shell_quote(&value)]
            }
        })
        .collect()
}

fn shell_quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=,".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn on(host: &str, run: impl Into<String>) -> HostCommand {
    HostCommand {
        on: host.to_owned(),
        run: run.into(),
    }
}

fn any(run: impl Into<String>) -> HostCommand {
    on("any", run)
}

fn check(command: impl Into<String>, expect: impl Into<String>) -> StepCheck {
    StepCheck {
        command: command.into(),
        expect: expect.into(),
    }
}

const READYZ: &str = "kubectl get --raw='/readyz?verbose'";
const VOTERS: &str = "kubectl get nodes -l node-role.kubernetes.io/etcd=true -o custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type==\"Ready\")].status,VOTER:.status.conditions[?(@.type==\"EtcdIsVoter\")].status";
const LEASES: &str = "kubectl -n kube-system get leases.coordination.k8s.io k3s k3s-etcd kube-scheduler kube-controller-manager";

impl Route {
    fn first_url(&self) -> String {
        let address = self
            .first
            .address
            .clone()
            .unwrap_or_else(|| format!("<{} address>", self.first.name));
        format!("https://{address}:6443")
    }

    fn version_env(&self) -> String {
        match &self.version {
            Some(v) => format!("INSTALL_K3S_VERSION='{v}' "),
            None => String::new(),
        }
    }

    fn server_install(&self) -> String {
        let mut words = vec![format!(
            "curl -sfL https://get.k3s.io | {}K3S_TOKEN_FILE={TOKEN_COPY} sh -s - server --server {}",
            self.version_env(),
            self.first_url()
        )];
        words.extend(self.join_flags.iter().cloned());
        words.join(" ")
    }

    fn token_copy(&self, to: &str) -> Vec<HostCommand> {
        vec![
            on(
                &self.first.name,
                format!(
                    "sudo cat {}/server/token   # the cluster token: copy it to {to} as {TOKEN_COPY} (mode 0600), never into a shell history or a ticket",
                    self.data_dir
                ),
            ),
            on(
                to,
                format!(
                    "sudo install -m 0600 /dev/stdin {TOKEN_COPY}   # paste the token, then Ctrl-D"
                ),
            ),
        ]
    }

    pub(super) fn steps(&self) -> Vec<HaStep> {
        let mut steps = if self.etcd_servers >= 3 {
            Vec::new()
        } else {
            vec![self.backup()]
        };
        if self.sqlite {
            steps.push(self.convert());
        }
        let mut members = self.etcd_servers.max(1);
        for server in [&self.second, &self.third] {
            if server.now == "etcd server" || self.etcd_servers >= 3 {
                continue;
            }
            members += 1;
            steps.push(self.join(server, members));
        }
        steps.push(self.verify());
        for (i, step) in steps.iter_mut().enumerate() {
            step.number = i + 1;
        }
        steps
    }

    fn backup(&self) -> HaStep {
        let first = &self.first.name;
        let db = format!("{}/server/db", self.data_dir);
        if self.sqlite {
            HaStep {
                number: 0,
                title: format!("Back up {first}'s sqlite datastore and the cluster token"),
                manual: true,
                why: "every later step has this copy as its last way back; k3s must be stopped so state.db and its -wal file are copied as one".into(),
                commands: vec![
                    on(first, "sudo systemctl stop k3s"),
                    on(first, format!("sudo mkdir -p {BACKUP} && sudo cp -a {db} {}/server/token {BACKUP}/", self.data_dir)),
                    on(first, "sudo systemctl start k3s"),
                ],
                checks: vec![
                    check(format!("sudo ls -la {BACKUP}/db/state.db {BACKUP}/token   # on {first}"), "both files, state.db the size of the live one"),
                    check(READYZ, "readyz check passed"),
                    check("posture check", "control-plane.readyz passes; the datastore reads sqlite"),
                ],
                rollback: vec![on(first, "sudo systemctl start k3s   # nothing else changed")],
            }
        } else {
            HaStep {
                number: 0,
                title: format!("Snapshot etcd on {first} and keep the cluster token"),
                manual: true,
                why: "every later step has this snapshot as its last way back".into(),
                commands: vec![
                    on(first, "sudo k3s etcd-snapshot save --name pre-ha"),
                    on(
                        first,
                        format!(
                            "sudo mkdir -p {BACKUP} && sudo cp -a {}/server/token {BACKUP}/",
                            self.data_dir
                        ),
                    ),
                ],
                checks: vec![check(
                    format!("sudo k3s etcd-snapshot list   # on {first}"),
                    "a pre-ha snapshot",
                )],
                rollback: vec![],
            }
        }
    }

    fn convert(&self) -> HaStep {
        let first = &self.first.name;
        let db = format!("{}/server/db", self.data_dir);
        let drop_in = "/etc/rancher/k3s/config.yaml.d/50-posture-ha.yaml";
        HaStep {
            number: 0,
            title: format!("Convert {first} to embedded etcd"),
            manual: true,
            why: format!(
                "k3s v1.22.2 and later move the sqlite data into etcd when the server restarts with cluster-init; {first} keeps running alone, now as a one-member etcd cluster that others can join"
            ),
            commands: vec![
                on(
                    first,
                    format!("echo 'cluster-init: true' | sudo tee {drop_in}"),
                ),
                on(first, "sudo systemctl restart k3s"),
            ],
            checks: vec![
                check(READYZ, "readyz check passed"),
                check(
                    format!("sudo ls {db}   # on {first}"),
                    "etcd/ and state.db.migrated (the sqlite file, moved aside)",
                ),
                check(
                    format!("kubectl get node {first} -L node-role.kubernetes.io/etcd"),
                    "ETCD true",
                ),
                check(
                    LEASES,
                    "k3s and k3s-etcd held by the first server and renewing",
                ),
                check(
                    "kubectl get pods -A -o wide",
                    "the same pods as before, on the same nodes",
                ),
                check(
                    format!(
                        "sudo posture host > {first}.facts.yaml && posture check --host-facts {first}.facts.yaml"
                    ),
                    "datastore: embedded etcd (seen: …/db/etcd/ …); ha route: converted",
                ),
            ],
            rollback: vec![
                on(first, "sudo systemctl stop k3s"),
                on(first, format!("sudo rm {drop_in}")),
                on(
                    first,
                    format!("sudo mv {db} {db}.etcd-attempt && sudo cp -a {BACKUP}/db {db}"),
                ),
                on(
                    first,
                    "sudo systemctl start k3s   # sqlite again; writes made since the conversion are lost",
                ),
            ],
        }
    }

    fn join(&self, server: &ServerRef, members: usize) -> HaStep {
        let name = &server.name;
        let first = &self.first.name;
        let mut commands = Vec::new();
        let mut rollback = vec![any(format!(
            "kubectl delete node {name}   # k3s removes its etcd member"
        ))];
        let mut why = format!(
            "{name} joins as a learner and k3s promotes it to a voting member; etcd then has {members} member(s)"
        );
        if members == 2 {
            why.push_str(": quorum is 2 of 2 until the next server joins, so losing either server stops the API. Have the next machine ready and do the next step in the same window");
        }
        if server.now == "agent" {
            why.push_str(&format!(
                ". {name} is an agent now: it is drained, its agent removed and k3s installed as a server. Its Longhorn replicas are away meanwhile: start with every volume healthy (posture check, 2.4) and expect them to rebuild when it is back"
            ));
            commands.extend([
                any(format!(
                    "posture drill {name}   # what-if: what its absence does"
                )),
                any(format!(
                    "kubectl drain {name} --ignore-daemonsets --delete-emptydir-data"
                )),
                on(name, "sudo /usr/local/bin/k3s-agent-uninstall.sh"),
                any(format!("kubectl delete node {name}")),
            ]);
            rollback.push(on(name, "sudo /usr/local/bin/k3s-uninstall.sh"));
            rollback.push(on(
                name,
                format!(
                    "curl -sfL https://get.k3s.io | {}K3S_URL={} K3S_TOKEN_FILE={TOKEN_COPY} sh -s - agent   # back to an agent",
                    self.version_env(),
                    self.first_url()
                ),
            ));
            rollback.push(any(format!(
                "kubectl cordon {name}   # as the runbook keeps it"
            )));
        } else {
            rollback.push(on(name, "sudo /usr/local/bin/k3s-uninstall.sh"));
        }
        commands.extend(self.token_copy(name));
        commands.push(on(name, self.server_install()));
        if server.now == "agent" {
            commands.push(any(format!(
                "kubectl cordon {name}   # apps stay on {first} until you migrate them"
            )));
        }
        HaStep {
            number: 0,
            title: format!("Join {name} as the {} etcd server", ordinal(members)),
            manual: true,
            why,
            commands,
            checks: vec![
                check(READYZ, "readyz check passed"),
                check(
                    VOTERS,
                    format!("{members} nodes, each READY True and VOTER True"),
                ),
                check(LEASES, "every lease held and renewing"),
                check(
                    "posture check",
                    if members >= 3 {
                        format!(
                            "embedded etcd with {members} servers: quorum survives the loss of 1 server(s)"
                        )
                    } else {
                        format!(
                            "embedded etcd with {members} servers (an error until the next server joins)"
                        )
                    },
                ),
            ],
            rollback,
        }
    }

    fn verify(&self) -> HaStep {
        let names = [&self.first.name, &self.second.name, &self.third.name];
        HaStep {
            number: 0,
            title: "Prove it: check, then a drill of each server".into(),
            manual: true,
            why: "three etcd servers survive the loss of any one; the drill shows it before a real failure does".into(),
            commands: names
                .iter()
                .map(|n| any(format!("posture drill {n}")))
                .collect(),
            checks: vec![
                check(VOTERS, "3 nodes, each READY True and VOTER True"),
                check("posture check", "control-plane.datastore: embedded etcd with 3 servers; control-plane.leases passes"),
            ],
            rollback: vec![],
        }
    }
}

fn ordinal(n: usize) -> &'static str {
    match n {
        1 => "first",
        2 => "second",
        3 => "third",
        4 => "fourth",
        _ => "next",
    }
}
