//! Names for kube-proxy's hashed chains: which Service port or endpoint each
//! `KUBE-SVC-…`, `KUBE-SVL-…`, `KUBE-EXT-…`, `KUBE-FW-…` and `KUBE-SEP-…` chain stands for,
//! read back from the rules kube-proxy wrote (their comments, destinations and DNAT targets),
//! so that a trace through a node can say "KUBE-SVC-QV4NJDQ2TL4A6VRO = Service
//! default/hello-nginx, port 80/TCP".

use std::collections::BTreeMap;

/// Maps each hashed chain named in `rules` (restore input or iptables-save text) to what it
/// stands for.
pub fn chain_legend(rules: &str) -> BTreeMap<String, String> {
    let mut legend = BTreeMap::new();
    for line in rules.lines() {
        let words = split(line);
        let Some(chain) = after(&words, "-A") else {
            continue;
        };
        let comment = after(&words, "--comment");
        let target = after(&words, "-j");
        if chain == "KUBE-SERVICES" || chain == "KUBE-NODEPORTS" {
            let (Some(target), Some(comment)) = (target, comment) else {
                continue;
            };
            if !is_hashed(target) {
                continue;
            }
            let svc = comment.split(' ').next().unwrap_or(comment);
            let proto = after(&words, "-p").unwrap_or("").to_ascii_uppercase();
            let port = after(&words, "--dport").unwrap_or("?");
            let via = match after(&words, "-d") {
                Some(d) if chain == "KUBE-SERVICES" => {
                    let d = d.trim_end_matches("/32").trim_end_matches("/128");
                    format!(" ({} {d})", kind_of(comment))
                }
                _ => " (node port)".to_string(),
            };
            let what = if target.starts_with("KUBE-EXT-") {
                "external traffic of Service"
            } else if target.starts_with("KUBE-FW-") {
                "load-balancer firewall of Service"
            } else if target.starts_with("KUBE-SVL-") {
                "Service (local endpoints)"
            } else {
                "Service"
            };
            legend
                .entry(target.to_string())
                .or_insert_with(|| format!("{what} {svc}, port {port}/{proto}{via}"));
        } else if chain.starts_with("KUBE-SEP-")
            && let (Some(to), Some(comment)) = (after(&words, "--to-destination"), comment)
        {
            legend
                .entry(chain.to_string())
                .or_insert_with(|| format!("endpoint {to} of {comment}"));
        }
    }
    legend
}

fn kind_of(comment: &str) -> &str {
    ["cluster IP", "external IP", "loadbalancer IP"]
        .into_iter()
        .find(|k| comment.ends_with(k))
        .unwrap_or("destination")
}

fn is_hashed(chain: &str) -> bool {
    [
        "KUBE-SVC-",
        "KUBE-SVL-",
        "KUBE-EXT-",
        "KUBE-FW-",
        "KUBE-SEP-",
    ]
    .iter()
    .any(|p| chain.starts_with(p))
}

fn after<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    let i = words.iter().position(|w| w == flag)?;
    words.get(i + 1).map(String::as_str)
}

/// Splits a rule line into arguments, keeping double-quoted comments whole.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' | '\t' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            _ => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_example_nodes_chains() {
        let rules = "\
-A KUBE-SERVICES -d 10.100.29.239/32 -p tcp -m comment --comment \"default/hello-nginx cluster IP\" -m tcp --dport 80 -j KUBE-SVC-QV4NJDQ2TL4A6VRO
-A KUBE-SEP-BF7GKAYFIIMLRAW5 -p tcp -m comment --comment \"default/hello-nginx\" -m tcp -j DNAT --to-destination 10.244.0.6:80
";
        let l = chain_legend(rules);
        assert_eq!(
            l["KUBE-SVC-QV4NJDQ2TL4A6VRO"],
            "Service default/hello-nginx, port 80/TCP (cluster IP 10.100.29.239)"
        );
        assert_eq!(
            l["KUBE-SEP-BF7GKAYFIIMLRAW5"],
            "endpoint 10.244.0.6:80 of default/hello-nginx"
        );
    }
}
