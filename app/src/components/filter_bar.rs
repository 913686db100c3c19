use crate::query::{Access, EventQuery, Field, Sort};
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
const FORM_FIELDS: [(Field, &str); 9] = [
    (Field::Principal, "ARN, key or name"),
    (Field::Name, "e.g. ConsoleLogin"),
    (Field::Resource, "ARN, name or type"),
    (Field::SourceIp, "e.g. 203.0.113.7"),
    (Field::Error, "code, or * for any"),
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
    let sort_oldest = query.sort == Sort::Oldest;
    view! {
        <form class="filter-bar" method="get" action=action role="search">
            <HiddenQuery query=query.clone() skip=&["q", "access", "sort"]/>
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
                <label>
                    <span class="visually-hidden">"Order"</span>
                    <select name="sort">
                        <option value="" selected=!sort_oldest>"Newest first"</option>
                        <option value="oldest" selected=sort_oldest>"Oldest first"</option>
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

/// The active filters as chips; each one's × is a link to the view without it.
#[component]
pub fn FilterChips(query: EventQuery, #[prop(into)] path: String) -> impl IntoView {
    let mut chips: Vec<(String, String, String)> = Vec::new();
    for f in &query.filters {
        let flip = query.with_filter(f.field, &f.value, !f.exclude).href(&path);
        chips.push((f.describe(), query.without_filter(f).href(&path), flip));
    }
    if let Some(a) = query.access {
        let text = match a {
            Access::Read => "Read-only events",
            Access::Write => "Write events",
        };
        chips.push((
            text.into(),
            query.with_access(None).href(&path),
            String::new(),
        ));
    }
    if let Some(t) = &query.q {
        chips.push((
            format!("Search “{t}”"),
            query.with_text(None).href(&path),
            String::new(),
        ));
    }
    (!chips.is_empty()).then(|| {
        let clear = EventQuery {
            range: query.range,
            sort: query.sort,
            ..EventQuery::default()
        }
        .href(&path);
        view! {
            <ul class="chips" aria-label="Active filters" data-testid="filter-chips">
                {chips
                    .into_iter()
                    .map(|(text, remove, flip)| view! {
                        <li class="chip chip--filter">
                            <span class="chip__text" title=text.clone()>{crate::fmt::clip(&text, 90)}</span>
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
