//! `acls` (kafka-acls.sh, Kafka's `kafka.admin.AclCommand`): add, remove and
//! list access control lists through CreateAcls, DeleteAcls and DescribeAcls.
//!
//! The flags are Kafka's (`--add`/`--remove`/`--list`, `--allow-principal`,
//! `--deny-principal`, `--allow-host`, `--deny-host`, `--operation`, `--topic`,
//! `--group`, `--cluster`, `--transactional-id`, `--resource-pattern-type`,
//! `--principal`, `--producer` [`--idempotent`], `--consumer`, `--force`), and
//! so is the output: ``Adding ACLs for resource `ResourcePattern(…)`: `` with
//! tab-indented entries, then the ACLs now on the resources named
//! (``Current ACLs for resource `…`: ``), whitespace included, because scripts
//! built for Kafka's tool read it. Kafka prints its sets in hash order; here
//! resources and entries are sorted so the output is stable.
//!
//! The flags become bindings in a pure step ([`expand`]) that is unit-tested;
//! only `run` talks to the brokers. Usage errors exit 2; a broker's refusal
//! exits 1 with one `Error: …` line (a broker without an authorizer answers
//! SECURITY_DISABLED, shown as Kafka's "No Authorizer is configured…").
//! Kafka's `--authorizer-properties` form (writing the ACL znodes directly) is
//! not offered: brokers serve the ACL APIs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::common;
use crate::client::admin_acls::{
    any_binding, any_entry, describe_pattern_filter, entry_filter, pattern_filter, CLUSTER_RESOURCE_NAME, WILDCARD_HOST,
};
use crate::client::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType, Admin, ClientConfig,
    ClientError, PatternType, ResourcePattern, ResourcePatternFilter, ResourceType, ResponseError,
};

pub fn command() -> Command {
    let repeat = |name: &'static str, value: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name(value).action(ArgAction::Append).help(help)
    };
    let flag = |name: &'static str, help: &'static str| Arg::new(name).long(name).action(ArgAction::SetTrue).help(help);
    Command::new("acls")
        .about("Add, remove and list access control lists (kafka-acls.sh)")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .help("Kafka-protocol brokers to connect to"),
        )
        .arg(common::config_file_arg("command-config", "Properties for the admin client (security settings)"))
        .arg(
            Arg::new("authorizer-properties")
                .long("authorizer-properties")
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .hide(true)
                .help("Kafka's ZooKeeper form; not supported (use --bootstrap-server)"),
        )
        .arg(flag("add", "Add ACLs"))
        .arg(flag("remove", "Remove ACLs"))
        .arg(flag("list", "List ACLs of the resources given (all ACLs when none is given)"))
        .arg(repeat("allow-principal", "PRINCIPAL", "Principal (Type:name, e.g. User:alice or User:*) to allow"))
        .arg(repeat("deny-principal", "PRINCIPAL", "Principal (Type:name) to deny"))
        .arg(repeat("allow-host", "HOST", "Host (IP address) allowed principals may connect from [default: *]"))
        .arg(repeat("deny-host", "HOST", "Host (IP address) denied principals are denied from [default: *]"))
        .arg(repeat(
            "operation",
            "OPERATION",
            "Operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, \
             AlterConfigs, IdempotentWrite, All [default: All]",
        ))
        .arg(repeat("topic", "TOPIC", "Topic (name, '*' for all, or a prefix with --resource-pattern-type prefixed)"))
        .arg(repeat("group", "GROUP", "Consumer group (name, '*' or a prefix)"))
        .arg(flag("cluster", "The cluster resource"))
        .arg(repeat("transactional-id", "ID", "Transactional id (name, '*' or a prefix)"))
        .arg(
            Arg::new("resource-pattern-type")
                .long("resource-pattern-type")
                .value_name("TYPE")
                .default_value("literal")
                .help("literal or prefixed; for --list and --remove also any or match"),
        )
        .arg(repeat("principal", "PRINCIPAL", "With --list: only the ACLs of this principal"))
        .arg(flag("producer", "Producer ACLs: topic Write, Describe, Create (and transactional id Write, Describe)"))
        .arg(flag("idempotent", "With --producer: cluster IdempotentWrite"))
        .arg(flag("consumer", "Consumer ACLs: topic Read, Describe and group Read"))
        .arg(flag("force", "Do not ask before removing"))
}

/// What the command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Add,
    Remove,
    List,
}

/// The validated command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    action: Action,
    /// The resources named, with the entries to add or remove on each (empty
    /// for `--remove` without principals: every ACL of the resource).
    resources: Vec<(ResourcePatternFilter, BTreeSet<AccessControlEntry>)>,
    /// The resources the final listing covers (empty: all).
    list_filters: Vec<ResourcePatternFilter>,
    /// `--principal` filters of `--list`.
    list_principals: Vec<String>,
}

/// Kafka's principal syntax `Type:name`.
fn parse_principal(s: &str) -> Result<String, String> {
    let s = s.trim();
    match s.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(s.to_string()),
        _ => Err(format!("expected a string in format principalType:principalName but got {s}")),
    }
}

fn values<'a>(m: &'a ArgMatches, name: &str) -> Vec<&'a String> {
    m.get_many::<String>(name).into_iter().flatten().collect()
}

fn has(m: &ArgMatches, name: &str) -> bool {
    match m.try_get_raw(name) {
        Ok(Some(_)) => m.value_source(name) == Some(clap::parser::ValueSource::CommandLine),
        _ => false,
    }
}

/// `Option "[a]" can't be used with option "[b]"`, Kafka's wording, for the
/// first of `others` given together with `flag`.
fn check_invalid_args(m: &ArgMatches, flag: &str, others: &[&str]) -> Result<(), String> {
    if !has(m, flag) {
        return Ok(());
    }
    match others.iter().find(|o| has(m, o)) {
        Some(other) => Err(format!("Option \"[{flag}]\" can't be used with option \"[{other}]\"")),
        None => Ok(()),
    }
}

/// Kafka's `AclCommandOptions.checkArgs`.
fn check_args(m: &ArgMatches) -> Result<Action, String> {
    if has(m, "authorizer-properties") {
        return Err("--authorizer-properties (writing ACLs to ZooKeeper directly) is not supported by gregor: \
                    use --bootstrap-server"
            .into());
    }
    if !has(m, "bootstrap-server") {
        return Err("Missing required argument \"[bootstrap-server]\"".into());
    }
    let actions: Vec<Action> = [("add", Action::Add), ("remove", Action::Remove), ("list", Action::List)]
        .into_iter()
        .filter(|(name, _)| has(m, name))
        .map(|(_, a)| a)
        .collect();
    let [action] = actions.as_slice() else {
        return Err("Command must include exactly one action: --list, --add, --remove. ".into());
    };
    check_invalid_args(
        m,
        "list",
        &["producer", "consumer", "allow-host", "allow-principal", "deny-host", "deny-principal"],
    )?;
    check_invalid_args(m, "producer", &["operation", "deny-principal", "deny-host"])?;
    check_invalid_args(m, "consumer", &["operation", "deny-principal", "deny-host"])?;
    if has(m, "principal") && !has(m, "list") {
        return Err("The --principal option is only available if --list is set".into());
    }
    if has(m, "producer") && !has(m, "topic") {
        return Err("With --producer you must specify a --topic".into());
    }
    if has(m, "idempotent") && !has(m, "producer") {
        return Err("The --idempotent option is only available if --producer is set".into());
    }
    if has(m, "consumer")
        && (!has(m, "topic")
            || !has(m, "group")
            || (!has(m, "producer") && (has(m, "cluster") || has(m, "transactional-id"))))
    {
        return Err("With --consumer you must specify a --topic and a --group and no --cluster or \
                    --transactional-id option should be specified."
            .into());
    }
    Ok(*action)
}

fn pattern_type(m: &ArgMatches) -> Result<PatternType, String> {
    let raw = m.get_one::<String>("resource-pattern-type").map(String::as_str).unwrap_or("literal");
    PatternType::parse(raw)
        .ok_or_else(|| format!("--resource-pattern-type must be one of literal, prefixed, any, match; got '{raw}'"))
}

/// The resource filters named on the command line (Kafka's
/// `getResourceFilter`): topics, the cluster (literal only, as Kafka), groups,
/// transactional ids, each once, in that order.
fn resource_filters(m: &ArgMatches, pattern: PatternType) -> Vec<ResourcePatternFilter> {
    let mut out: Vec<ResourcePatternFilter> = Vec::new();
    let mut push = |f: ResourcePatternFilter| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    let named = |t: ResourceType, name: &str| ResourcePatternFilter {
        resource_type: t,
        name: Some(name.trim().to_string()),
        pattern_type: pattern,
    };
    for t in values(m, "topic") {
        push(named(ResourceType::Topic, t));
    }
    if pattern == PatternType::Literal && (has(m, "cluster") || has(m, "idempotent")) {
        push(cluster_filter());
    }
    for g in values(m, "group") {
        push(named(ResourceType::Group, g));
    }
    for t in values(m, "transactional-id") {
        push(named(ResourceType::TransactionalId, t));
    }
    out
}

/// The entries for `operations` from the principal and host flags (Kafka's
/// `getAcl`): every allowed principal × operation × allowed host, and the
/// same for denied ones. Hosts default to `*` when principals are given.
fn entries(m: &ArgMatches, operations: &[AclOperation]) -> Result<BTreeSet<AccessControlEntry>, String> {
    let mut out = BTreeSet::new();
    for (principals_flag, hosts_flag, permission) in [
        ("allow-principal", "allow-host", AclPermissionType::Allow),
        ("deny-principal", "deny-host", AclPermissionType::Deny),
    ] {
        let principals =
            values(m, principals_flag).into_iter().map(|p| parse_principal(p)).collect::<Result<Vec<_>, _>>()?;
        let mut hosts: Vec<String> = values(m, hosts_flag).into_iter().map(|h| h.trim().to_string()).collect();
        if hosts.is_empty() {
            hosts.push(WILDCARD_HOST.to_string());
        }
        for principal in &principals {
            for operation in operations {
                for host in &hosts {
                    out.insert(AccessControlEntry {
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: *operation,
                        permission,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// `--operation` values (default All).
fn operations(m: &ArgMatches) -> Result<Vec<AclOperation>, String> {
    let raw = values(m, "operation");
    if raw.is_empty() {
        return Ok(vec![AclOperation::All]);
    }
    let mut out = Vec::new();
    for r in raw {
        let op = AclOperation::parse(r.trim()).filter(|op| *op != AclOperation::Any).ok_or_else(|| {
            format!(
                "Invalid operation '{}'. Valid operations: Read, Write, Create, Delete, Alter, Describe, \
                 ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All",
                r.trim()
            )
        })?;
        if !out.contains(&op) {
            out.push(op);
        }
    }
    Ok(out)
}

/// Merges `entries` into the set of `filter` (or adds the filter).
fn merge(
    into: &mut Vec<(ResourcePatternFilter, BTreeSet<AccessControlEntry>)>,
    filter: ResourcePatternFilter,
    entries: BTreeSet<AccessControlEntry>,
) {
    match into.iter_mut().find(|(f, _)| *f == filter) {
        Some((_, existing)) => existing.extend(entries),
        None => into.push((filter, entries)),
    }
}

/// The flags → resources and their entries (Kafka's
/// `getResourceFilterToAcls` plus the checks of add): the plain form, or the
/// `--producer` / `--consumer` conveniences (both may be given).
fn expand(m: &ArgMatches) -> Result<Plan, String> {
    let action = check_args(m)?;
    let pattern = pattern_type(m)?;
    if action == Action::Add && !matches!(pattern, PatternType::Literal | PatternType::Prefixed) {
        return Err(format!(
            "A '--resource-pattern-type' value of '{}' is not valid when adding acls.",
            pattern.upper()
        ));
    }
    let list_filters = resource_filters(m, pattern);
    let list_principals =
        values(m, "principal").into_iter().map(|p| parse_principal(p)).collect::<Result<Vec<_>, _>>()?;
    if action == Action::List {
        return Ok(Plan { action, resources: Vec::new(), list_filters, list_principals });
    }
    if list_filters.is_empty() {
        return Err("You must provide at least one resource: --topic <topic> or --cluster or --group <group> or \
                    --transactional-id <transactional-id>"
            .into());
    }
    let mut resources = Vec::new();
    let producer = has(m, "producer");
    let consumer = has(m, "consumer");
    if !producer && !consumer {
        let acls = entries(m, &operations(m)?)?;
        for f in &list_filters {
            merge(&mut resources, f.clone(), acls.clone());
        }
    }
    if producer {
        use AclOperation as O;
        let topic_acls = entries(m, &[O::Write, O::Describe, O::Create])?;
        let txn_acls = entries(m, &[O::Write, O::Describe])?;
        for f in &list_filters {
            match f.resource_type {
                ResourceType::Topic => merge(&mut resources, f.clone(), topic_acls.clone()),
                ResourceType::TransactionalId => merge(&mut resources, f.clone(), txn_acls.clone()),
                _ => {}
            }
        }
        if has(m, "idempotent") {
            merge(&mut resources, cluster_filter(), entries(m, &[O::IdempotentWrite])?);
        }
    }
    if consumer {
        use AclOperation as O;
        let topic_acls = entries(m, &[O::Read, O::Describe])?;
        let group_acls = entries(m, &[O::Read])?;
        for f in &list_filters {
            match f.resource_type {
                ResourceType::Topic => merge(&mut resources, f.clone(), topic_acls.clone()),
                ResourceType::Group => merge(&mut resources, f.clone(), group_acls.clone()),
                _ => {}
            }
        }
    }
    // Kafka's validateOperation: each resource type takes only its operations.
    for (filter, acls) in &resources {
        let supported = filter.resource_type.supported_operations();
        if acls.iter().any(|a| !supported.contains(&a.operation)) {
            let valid: Vec<&str> = supported.iter().map(|o| o.upper()).collect();
            return Err(format!(
                "ResourceType {} only supports operations {}",
                filter.resource_type.upper(),
                valid.join(",")
            ));
        }
    }
    if action == Action::Add && resources.iter().any(|(_, acls)| acls.is_empty()) {
        return Err("You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.".into());
    }
    Ok(Plan { action, resources, list_filters, list_principals })
}

/// The cluster resource (`kafka-cluster`, literal) as a filter.
fn cluster_filter() -> ResourcePatternFilter {
    pattern_filter(&ResourcePattern::literal(ResourceType::Cluster, CLUSTER_RESOURCE_NAME))
}

/// A header and its entries as Kafka prints them: `header: ` then the
/// entries one per line, tab-indented, the first after a space and the last
/// followed by one, then an empty line (Kafka's `s"…: $Newline ${…} $Newline"`).
fn render_block(header: &str, entries: &BTreeSet<AccessControlEntry>) -> String {
    let lines: Vec<String> = entries.iter().map(|e| format!("\t{e}")).collect();
    format!("{header}: \n {} \n", lines.join("\n"))
}

/// The listing of `--list` (and after add/remove): per resource its entries,
/// or per `--principal` only that principal's.
fn render_listing(bindings: &[AclBinding], principals: &[String]) -> String {
    let mut by_resource: BTreeMap<&ResourcePattern, BTreeSet<AccessControlEntry>> = BTreeMap::new();
    for b in bindings {
        by_resource.entry(&b.pattern).or_default().insert(b.entry.clone());
    }
    let block = |resource: &ResourcePattern, acls: &BTreeSet<AccessControlEntry>| {
        render_block(&format!("Current ACLs for resource `{resource}`"), acls) + "\n"
    };
    let mut out = String::new();
    if principals.is_empty() {
        for (resource, acls) in &by_resource {
            out.push_str(&block(resource, acls));
        }
        return out;
    }
    for principal in principals {
        out.push_str(&format!("ACLs for principal `{principal}`\n"));
        for (resource, acls) in &by_resource {
            let mine: BTreeSet<AccessControlEntry> =
                acls.iter().filter(|a| &a.principal == principal).cloned().collect();
            if !mine.is_empty() {
                out.push_str(&block(resource, &mine));
            }
        }
    }
    out
}

/// A usage error: printed with exit code 2.
fn usage(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{message}");
    Ok(ExitCode::from(super::EXIT_USAGE))
}

/// Kafka's `confirmAction`: true with `--force`, else asks on stdout and reads
/// a line (end of input is "no").
fn confirm(force: bool, question: &str) -> anyhow::Result<bool> {
    if force {
        return Ok(true);
    }
    println!("{question}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

/// A broker's refusal, with Kafka's words for the missing authorizer.
fn explain(err: ClientError) -> anyhow::Error {
    if err.code() == Some(ResponseError::SecurityDisabled) {
        let detail = match &err {
            ClientError::Kafka { message: Some(m), .. } => m.clone(),
            _ => "No Authorizer is configured on the broker".to_string(),
        };
        return anyhow::anyhow!("{detail} (SECURITY_DISABLED): set authorizer.class.name on the brokers to use ACLs");
    }
    err.into()
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let plan = match expand(m) {
        Ok(p) => p,
        Err(message) => return usage(message),
    };
    let Some(bootstrap) = m.get_one::<String>("bootstrap-server") else {
        return usage("Missing required argument \"[bootstrap-server]\"");
    };
    let mut config = ClientConfig::new(bootstrap.clone());
    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    let force = m.get_flag("force");
    let rt = common::runtime()?;
    rt.block_on(async {
        let admin = Admin::connect(config).await?;
        match plan.action {
            Action::Add => {
                for (filter, acls) in &plan.resources {
                    let pattern = ResourcePattern {
                        resource_type: filter.resource_type,
                        name: filter.name.clone().unwrap_or_default(),
                        pattern_type: filter.pattern_type,
                    };
                    println!("{}", render_block(&format!("Adding ACLs for resource `{pattern}`"), acls));
                    let bindings: Vec<AclBinding> = acls
                        .iter()
                        .map(|entry| AclBinding { pattern: pattern.clone(), entry: entry.clone() })
                        .collect();
                    admin.create_acls(&bindings).await.map_err(explain)?;
                }
            }
            Action::Remove => {
                for (filter, acls) in &plan.resources {
                    let question = if acls.is_empty() {
                        format!(
                            "Are you sure you want to delete all ACLs for resource filter `{}`? (y/n)",
                            describe_pattern_filter(filter)
                        )
                    } else {
                        let block = render_block("Are you sure you want to remove ACLs", acls);
                        format!("{block} from resource filter `{}`? (y/n)", describe_pattern_filter(filter))
                    };
                    if !confirm(force, &question)? {
                        continue;
                    }
                    let filters: Vec<AclBindingFilter> = if acls.is_empty() {
                        vec![AclBindingFilter { pattern: filter.clone(), entry: any_entry() }]
                    } else {
                        acls.iter()
                            .map(|a| AclBindingFilter { pattern: filter.clone(), entry: entry_filter(a) })
                            .collect()
                    };
                    admin.delete_acls(&filters).await.map_err(explain)?;
                }
            }
            Action::List => {}
        }
        let mut bindings = Vec::new();
        if plan.list_filters.is_empty() {
            bindings = admin.describe_acls(&any_binding()).await.map_err(explain)?;
        } else {
            for filter in &plan.list_filters {
                let f = AclBindingFilter { pattern: filter.clone(), entry: any_entry() };
                bindings.extend(admin.describe_acls(&f).await.map_err(explain)?);
            }
        }
        print!("{}", render_listing(&bindings, &plan.list_principals));
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan, String> {
        let mut all = vec!["acls", "--bootstrap-server", "localhost:9092"];
        all.extend_from_slice(args);
        expand(&command().try_get_matches_from(all).unwrap())
    }

    fn entry(
        principal: &str,
        host: &str,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> AccessControlEntry {
        AccessControlEntry { principal: principal.into(), host: host.into(), operation, permission }
    }

    fn topic(name: &str, pattern_type: PatternType) -> ResourcePatternFilter {
        ResourcePatternFilter { resource_type: ResourceType::Topic, name: Some(name.into()), pattern_type }
    }

    #[test]
    fn plain_add_crosses_principals_operations_and_hosts() {
        let p = plan(&[
            "--add",
            "--allow-principal",
            "User:alice",
            "--allow-principal",
            "User:bob",
            "--operation",
            "Read",
            "--operation",
            "Write",
            "--allow-host",
            "10.0.0.1",
            "--deny-principal",
            "User:eve",
            "--topic",
            "t",
        ])
        .unwrap();
        assert_eq!(p.action, Action::Add);
        assert_eq!(p.resources.len(), 1);
        let (filter, acls) = &p.resources[0];
        assert_eq!(filter, &topic("t", PatternType::Literal));
        use AclOperation::*;
        use AclPermissionType::*;
        let expected: BTreeSet<_> = [
            entry("User:alice", "10.0.0.1", Read, Allow),
            entry("User:alice", "10.0.0.1", Write, Allow),
            entry("User:bob", "10.0.0.1", Read, Allow),
            entry("User:bob", "10.0.0.1", Write, Allow),
            entry("User:eve", "*", Read, Deny),
            entry("User:eve", "*", Write, Deny),
        ]
        .into_iter()
        .collect();
        assert_eq!(acls, &expected);
    }

    #[test]
    fn operation_defaults_to_all_and_prefixed_patterns_pass_through() {
        let p = plan(&["--add", "--allow-principal", "User:*", "--group", "g-", "--resource-pattern-type", "prefixed"])
            .unwrap();
        let (filter, acls) = &p.resources[0];
        assert_eq!(filter.resource_type, ResourceType::Group);
        assert_eq!(filter.pattern_type, PatternType::Prefixed);
        assert_eq!(
            acls.iter().cloned().collect::<Vec<_>>(),
            vec![entry("User:*", "*", AclOperation::All, AclPermissionType::Allow)]
        );
    }

    #[test]
    fn producer_convenience_with_idempotence_and_transactional_ids() {
        let p = plan(&[
            "--add",
            "--producer",
            "--idempotent",
            "--allow-principal",
            "User:p",
            "--topic",
            "t",
            "--transactional-id",
            "tx",
        ])
        .unwrap();
        use AclOperation::*;
        let ops = |i: usize| p.resources[i].1.iter().map(|e| e.operation).collect::<Vec<_>>();
        assert_eq!(p.resources[0].0, topic("t", PatternType::Literal));
        assert_eq!(ops(0), vec![Write, Create, Describe]);
        assert_eq!(p.resources[1].0.resource_type, ResourceType::TransactionalId);
        assert_eq!(ops(1), vec![Write, Describe]);
        assert_eq!(p.resources[2].0, cluster_filter());
        assert_eq!(ops(2), vec![IdempotentWrite]);
        assert_eq!(p.resources.len(), 3);
    }

    #[test]
    fn consumer_convenience_and_both_together() {
        let p = plan(&["--add", "--consumer", "--allow-principal", "User:c", "--topic", "t", "--group", "g"]).unwrap();
        use AclOperation::*;
        let ops = |p: &Plan, i: usize| p.resources[i].1.iter().map(|e| e.operation).collect::<Vec<_>>();
        assert_eq!(ops(&p, 0), vec![Read, Describe]);
        assert_eq!(p.resources[1].0.resource_type, ResourceType::Group);
        assert_eq!(ops(&p, 1), vec![Read]);
        let both =
            plan(&["--add", "--consumer", "--producer", "--allow-principal", "User:c", "--topic", "t", "--group", "g"])
                .unwrap();
        assert_eq!(ops(&both, 0), vec![Read, Write, Create, Describe]);
    }

    #[test]
    fn usage_errors_use_kafkas_words() {
        assert!(plan(&["--topic", "t"]).unwrap_err().starts_with("Command must include exactly one action"));
        assert!(plan(&["--add", "--list", "--topic", "t"]).is_err());
        assert_eq!(
            plan(&["--add", "--topic", "t"]).unwrap_err(),
            "You must specify one of: --allow-principal, --deny-principal when trying to add ACLs."
        );
        assert!(plan(&["--add", "--allow-principal", "User:a"]).unwrap_err().starts_with("You must provide"));
        assert_eq!(
            plan(&["--list", "--allow-principal", "User:a"]).unwrap_err(),
            "Option \"[list]\" can't be used with option \"[allow-principal]\""
        );
        assert_eq!(
            plan(&["--add", "--producer", "--allow-principal", "User:a", "--group", "g"]).unwrap_err(),
            "With --producer you must specify a --topic"
        );
        assert!(plan(&["--add", "--consumer", "--allow-principal", "User:a", "--topic", "t"])
            .unwrap_err()
            .starts_with("With --consumer you must specify a --topic and a --group"));
        assert_eq!(
            plan(&["--add", "--producer", "--operation", "Read", "--allow-principal", "User:a", "--topic", "t"])
                .unwrap_err(),
            "Option \"[producer]\" can't be used with option \"[operation]\""
        );
        assert_eq!(
            plan(&["--add", "--allow-principal", "alice", "--topic", "t"]).unwrap_err(),
            "expected a string in format principalType:principalName but got alice"
        );
        assert_eq!(
            plan(&["--add", "--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "match"])
                .unwrap_err(),
            "A '--resource-pattern-type' value of 'MATCH' is not valid when adding acls."
        );
        assert_eq!(
            plan(&["--add", "--allow-principal", "User:a", "--group", "g", "--operation", "Write"]).unwrap_err(),
            "ResourceType GROUP only supports operations READ,DESCRIBE,DELETE,ALL"
        );
        assert!(plan(&["--add", "--allow-principal", "User:a", "--topic", "t", "--operation", "Fly"]).is_err());
        assert_eq!(
            plan(&["--remove", "--principal", "User:a", "--topic", "t"]).unwrap_err(),
            "The --principal option is only available if --list is set"
        );
        assert_eq!(
            plan(&["--add", "--idempotent", "--allow-principal", "User:a", "--topic", "t"]).unwrap_err(),
            "The --idempotent option is only available if --producer is set"
        );
    }

    #[test]
    fn list_and_remove_filters() {
        let p = plan(&["--list"]).unwrap();
        assert!(p.list_filters.is_empty());
        let p = plan(&["--list", "--topic", "t", "--resource-pattern-type", "match", "--principal", "User:a"]).unwrap();
        assert_eq!(p.list_filters, vec![topic("t", PatternType::Match)]);
        assert_eq!(p.list_principals, vec!["User:a".to_string()]);
        let p = plan(&["--remove", "--cluster", "--topic", "t"]).unwrap();
        assert_eq!(p.resources.len(), 2);
        assert!(p.resources.iter().all(|(_, acls)| acls.is_empty()));
    }

    #[test]
    fn blocks_render_with_kafkas_whitespace() {
        let acls: BTreeSet<_> = [
            entry("User:alice", "*", AclOperation::Read, AclPermissionType::Allow),
            entry("User:bob", "*", AclOperation::Read, AclPermissionType::Allow),
        ]
        .into_iter()
        .collect();
        let pattern = ResourcePattern::new(ResourceType::Topic, "t", PatternType::Literal);
        assert_eq!(
            render_block(&format!("Adding ACLs for resource `{pattern}`"), &acls),
            "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)`: \n \
             \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)\n\
             \t(principal=User:bob, host=*, operation=READ, permissionType=ALLOW) \n"
        );
        let bindings: Vec<AclBinding> =
            acls.iter().map(|e| AclBinding { pattern: pattern.clone(), entry: e.clone() }).collect();
        let listing = render_listing(&bindings, &["User:bob".to_string()]);
        assert_eq!(
            listing,
            "ACLs for principal `User:bob`\nCurrent ACLs for resource `ResourcePattern(resourceType=TOPIC, name=t, \
             patternType=LITERAL)`: \n \t(principal=User:bob, host=*, operation=READ, permissionType=ALLOW) \n\n"
        );
        assert_eq!(render_listing(&bindings, &["User:nobody".to_string()]), "ACLs for principal `User:nobody`\n");
    }
}
