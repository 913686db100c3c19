use crate::query::{Access, EventQuery, Field};
use leptos::prelude::*;

/// The query as hidden inputs, so a GET form that changes one part keeps the rest.
/// `skip` names the parameters the form itself sets.
#[component]
pub fn HiddenQuery(query: EventQuery, skip: &'static [&'static str]) -> impl IntoView {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.to_query().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| !skip.contains(&k.as_str()) && k != "cursor")
        .collect();
    pairs.dedup();
    pairs
        .into_iter()
        .map(|(k, v)| view! { <input type="hidden" name=k value=v/> })
        .collect_view()
}

/// Fields the "add filters" form offers, in order.
const FORM_FIELDS: [(Field, &str); 10] = [
    (Field::Principal, "ARN, key, name or access key"),
    (Field::Name, "e.g. ConsoleLogin"),
    (Field::Resource, "ARN, name or type"),
    (Field::SourceIp, "address or range: 203.0.113.0/24"),
    (Field::UserAgent, "any part: command/iam"),
    (Field::Error, "code or message, * for any"),
    (Field::Account, "12 digits"),
    (Field::Region, "e.g. eu-west-1"),
    (Field::Source, "e.g. s3.amazonaws.com"),
    (Field::AccessKey, "AKIA… / ASIA…"),
];

/// Free text, filters and read/write, as one GET form: works without JavaScript.
#[component]
pub fn FilterBar(query: EventQuery, #[prop(into)] action: String) -> impl IntoView {
    let q = query.q.clone().unwrap_or_default();
    let access = query.access;
    view! {
        <form class="filter-bar" method="get" action=action role="search">
            <HiddenQuery query=query.clone() skip=&["q", "access"]/>
            <div class="filter-bar__main">
                <label class="filter-bar__search">
                    <span class="visually-hidden">"Search"</span>
                    <input type="search" name="q" value=q placeholder="Search names, principals, resources, IPs, user agents, errors…"/>
                </label>
                <label>
                    <span class="visually-hidden">"Read or write"</span>
                    <select name="access">
                        <option value="" selected=access.is_none()>"Reads and writes"</option>
                        <option value="read" selected=access == Some(Access::Read)>"Read-only"</option>
                        <option value="write" selected=access == Some(Access::Write)>"Writes"</option>
                    </select>
                </label>
                <button type="submit">"Apply"</button>
            </div>
            <details class="filter-bar__more">
                <summary>"Add filters"</summary>
                <div class="filter-bar__fields">
                    {FORM_FIELDS
                        .into_iter()
                        .map(|(f, hint)| view! {
                            <label class="filter-bar__field">
                                <span>{f.label()}</span>
                                <input type="text" name=f.key() placeholder=hint autocomplete="off"/>
                            </label>
                        })
                        .collect_view()}
                </div>
                <p class="muted">"Each filter is added to those already active. Exclude a value from its row in a top list or its chip."</p>
            </details>
        </form>
    }
}

/// The active filters as chips; each one's × is a link to the view without it. Values
/// with a name (a principal's key, a resource's ARN) show the name, the value on hover.
#[component]
pub fn FilterChips(
    query: EventQuery,
    #[prop(into)] path: String,
    /// Names of filter values, as the server found them.
    #[prop(optional)]
    names: Vec<(String, String)>,
) -> impl IntoView {
    // (text, whole value, remove, invert)
    let mut chips: Vec<(String, String, String, String)> = Vec::new();
    for f in &query.filters {
        let flip = query.with_filter(f.field, &f.value, !f.exclude).href(&path);
        let name = names
            .iter()
            .find(|(v, _)| *v == f.value)
            .map(|(_, n)| n.as_str());
        chips.push((
            f.describe_as(name),
            f.describe(),
            query.without_filter(f).href(&path),
            flip,
        ));
    }
    if let Some(a) = query.access {
        let text = match a {
            Access::Read => "Read-only events",
            Access::Write => "Write events",
        };
        chips.push((
            text.into(),
            text.into(),
            query.with_access(None).href(&path),
            String::new(),
        ));
    }
    if let Some(t) = &query.q {
        let text = format!("Search “{t}”");
        chips.push((
            text.clone(),
            text,
            query.with_text(None).href(&path),
            String::new(),
        ));
    }
    (!chips.is_empty()).then(|| {
        let clear = EventQuery {
            range: query.range,
            sort: query.sort,
            rows: query.rows,
            compare: query.compare,
            ..EventQuery::default()
        }
        .href(&path);
        view! {
            <ul class="chips" aria-label="Active filters" data-testid="filter-chips">
                {chips
                    .into_iter()
                    .map(|(text, whole, remove, flip)| view! {
                        <li class="chip chip--filter">
                            <span class="chip__text" title=whole>{crate::fmt::clip(&text, 90)}</span>
                            {(!flip.is_empty()).then(|| view! {
                                <a class="chip__flip" href=flip title="Invert this filter">"⇄"</a>
                            })}
                            <a class="chip__remove" href=remove aria-label=format!("Remove filter: {text}")>"×"</a>
                        </li>
                    })
                    .collect_view()}
                <li><a class="chips__clear" href=clear>"Clear all"</a></li>
            </ul>
        }
    })
}
