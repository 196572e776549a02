import AttnCore

/// What the run report and the review page share: the top of the page and one stylesheet.
enum ReportPage {
    /// `<!DOCTYPE html>` up to and including `<body>`: the title and the stylesheet.
    static func header(title: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(Markup.escape(title))</title>
        <style>\(style)</style></head><body>

        """
    }

    static let style = """
    body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1b1f24}
    h1{margin-bottom:.2em}.lead{font-size:1.1em;color:#444}.meta,.small{color:#666;font-size:.9em}
    table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #d0d7de;padding:.3em .6em;vertical-align:top;text-align:left}
    th{background:#f6f8fa}table.sides th{width:7em}td.result{white-space:nowrap}
    tr.pass td:first-child,span.pass{color:#1a7f37}tr.fail td:first-child{color:#cf222e}tr.fail{background:#fff5f5}span.fail{color:#cf222e;font-weight:bold}
    tr.moved{background:#fff8c5}tr.added{background:#dafbe1}tr.removed{background:#ffebe9}
    del{color:#cf222e}ins{color:#1a7f37;text-decoration:none;font-weight:bold}.text .b{color:#555}
    .status{font-weight:bold;padding:.4em .8em;display:inline-block;border-radius:4px}
    .status.pass,.status.same{background:#dafbe1;color:#116329}.status.fail{background:#ffebe9;color:#a40e26}.status.moved{background:#fff8c5;color:#7d4e00}
    .note{background:#ddf4ff;border-left:4px solid #54aeff;padding:.3em .8em}
    section{border-top:1px solid #d0d7de;margin-top:1.5em}section.experiment{border-top-width:2px;margin-top:2em}
    .variant{border-top:1px solid #d0d7de;margin-top:1em}pre{background:#f6f8fa;padding:.6em;white-space:pre-wrap;font-size:12px}
    .row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.row h4{width:100%;margin:.8em 0 0}
    figure{margin:0}figure img{max-width:380px;height:auto;border:1px solid #eee}.links a{font-size:.9em}
    figure img.scan{max-width:560px}table.ranked td{font-variant-numeric:tabular-nums;text-align:right}
    tr.intervened td:first-child{padding-left:1.8em}.delta{color:#555;font-size:.9em}
    ul.expectations{list-style:none;padding-left:0}ul.expectations li{margin:.2em 0}
    table.bars td.bar{white-space:nowrap;font-variant-numeric:tabular-nums}
    .track{display:inline-block;position:relative;width:140px;height:10px;background:#f6f8fa;border:1px solid #d0d7de;vertical-align:middle}
    .track span{position:absolute;top:0;height:10px}.track .pos{left:50%;background:#2166ac}.track .neg{right:50%;background:#b2182b}.track .whole{left:0}
    """
}
