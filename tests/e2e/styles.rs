//! Every served style passes the MapLibre style spec's own validator (`gl-style-validate` from
//! npm `@maplibre/maplibre-gl-style-spec`), points at this server, and draws every catalog layer
//! in its theme colour.

use crate::support::{demo_state, get, repo_root, run};
use axum::http::StatusCode;
use serde_json::Value;
use std::process::Command;
use vigie_layers::Catalog;

#[tokio::test(flavor = "multi_thread")]
async fn served_styles_validate_and_draw_every_layer() {
    let validator = repo_root().join("node_modules/.bin/gl-style-validate");
    assert!(
        validator.is_file(),
        "gl-style-validate is missing at {}: run `npm ci` at the repository root (tests/run does)",
        validator.display()
    );
    let (state, _dir) = demo_state(100).await;
    let catalog = Catalog::bundled();
    let out = tempfile::tempdir().unwrap();
    let ids: Vec<String> = state.styles().ids().map(str::to_owned).collect();
    assert!(ids.contains(&"hypervision".to_owned()) && ids.contains(&"wall".to_owned()), "{ids:?}");
    for id in ids {
        let a = get(&state, &format!("/styles/{id}.json"), &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{id}");
        let path = out.path().join(format!("{id}.json"));
        std::fs::write(&path, &a.body).unwrap();
        // Exits 1 with line-numbered errors on an invalid style.
        run(Command::new(&validator).arg(&path));

        let style = a.json();
        let text = String::from_utf8_lossy(&a.body);
        assert!(!text.contains("vigie://"), "{id}: every vigie:// URL is made absolute");
        let url = style["sources"]["vigie"]["url"].as_str().expect("vigie source url");
        assert!(url.starts_with("http://vigie.test:8080/tiles/"), "{id}: {url}");
        // The source's TileJSON resolves on this server and lists every catalog layer.
        let tj = get(&state, url.trim_start_matches("http://vigie.test:8080"), &[]).await;
        assert_eq!(tj.status, StatusCode::OK, "{id}: {url}");
        let layers = style["layers"].as_array().unwrap();
        // Archive layers (the basemap) are drawn by the web view from their own source, never
        // in the composite tile the styles read.
        let live = catalog.layers.iter().filter(|l| !l.kind.is_archive());
        for l in live {
            let drawn: Vec<&Value> = layers.iter().filter(|s| s["source-layer"] == l.id.as_str()).collect();
            assert!(!drawn.is_empty(), "{id}: catalog layer {} is not drawn", l.id);
            let theme = catalog.theme(&l.theme).unwrap();
            if l.kind == vigie_layers::LayerKind::Entries {
                let colours: Vec<String> = drawn
                    .iter()
                    .flat_map(|s| ["circle-color", "line-color", "fill-color"].map(|k| s["paint"][k].clone()))
                    .filter_map(|c| c.as_str().map(str::to_lowercase))
                    .collect();
                assert!(
                    !colours.is_empty() && colours.iter().all(|c| *c == theme.color),
                    "{id}/{}: {colours:?} vs {}",
                    l.id,
                    theme.color
                );
            }
        }
    }
}
