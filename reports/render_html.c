/*
 * render_html: report.html, one self-contained file.
 *
 * Figures are inlined as SVG data URIs in <img> elements: nothing is
 * fetched (no network, no external script, style or font), gnuplot's SVG
 * element ids cannot collide between figures, and a browser can tell
 * whether each image decoded. Every number in a table carries its
 * provenance in a title tooltip (dotted underline). A small inline script
 * records, on load, how many figures decoded in attributes of <body>
 * (data-figures, data-figures-loaded, data-figures-failed, data-errors) and
 * marks a figure that failed; scripts/report-check reads them back from
 * headless Chromium's DOM.
 */
#include "report_int.h"

#include "le_err.h" /* le_err_set */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char le_html_style[] =
    "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;max-width:70em;"
    "padding:0 1em;color:#222;line-height:1.4}"
    "h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}"
    "table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}"
    "caption{text-align:left;font-weight:600;padding:.3em 0}"
    "th,td{border:1px solid #ddd;padding:.25em .6em}th{background:#f4f4f4}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td[title]{text-decoration:underline dotted #999;cursor:help}"
    "p.cap{font-size:.9em;color:#444;max-width:60em}p.note{font-size:.85em;color:#555;margin:.2em 0}"
    "figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}"
    "figcaption{font-size:.9em;color:#444;max-width:60em}"
    ".fail{color:#b00;font-weight:600}.wrap{overflow-x:auto}";

/* Records the figures' state for scripts/report-check and flags failures. */
static const char le_html_script[] =
    "(function(){var errs=0;"
    "window.addEventListener('error',function(){errs++;},true);"
    "window.addEventListener('load',function(){"
    "var im=document.querySelectorAll('img[data-figure]'),ok=0,bad=[];"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}else{"
    "bad.push(im[i].getAttribute('data-figure'));var p=document.createElement('p');p.className='fail';"
    "p.textContent='This figure failed to load.';im[i].parentNode.appendChild(p);}}"
    "var b=document.body;b.setAttribute('data-figures',String(im.length));"
    "b.setAttribute('data-figures-loaded',String(ok));b.setAttribute('data-figures-failed',bad.join(' '));"
    "b.setAttribute('data-errors',String(errs));});})();";

static void le_html_table(struct le_buf *b, const struct le_table *t) {
    le_buf_puts(b, "<div class=\"wrap\"><table id=\"t-");
    le_buf_html(b, t->id);
    le_buf_puts(b, "\"><caption>");
    le_buf_html(b, t->title);
    le_buf_puts(b, "</caption>\n<thead><tr>");
    for (int c = 0; c < t->n_cols; c++) {
        le_buf_puts(b, "<th>");
        le_buf_html(b, t->cols[c]);
        le_buf_puts(b, "</th>");
    }
    le_buf_puts(b, "</tr></thead>\n<tbody>\n");
    for (int r = 0; r < t->n_rows; r++) {
        le_buf_puts(b, "<tr>");
        for (int c = 0; c < t->n_cols; c++) {
            const struct le_cell *x = &t->cells[(size_t)r * (size_t)t->n_cols + (size_t)c];
            le_buf_puts(b, c == 0 ? "<th scope=\"row\"" : x->kind == LE_CELL_TEXT ? "<td" : "<td class=\"n\"");
            if (x->n_tr || x->note) {
                char *p = le_cell_provenance(x);
                le_buf_puts(b, " title=\"");
                le_buf_html(b, p ? p : "");
                le_buf_puts(b, "\"");
                free(p);
            }
            le_buf_puts(b, ">");
            le_buf_html(b, x->text ? x->text : "");
            le_buf_puts(b, c == 0 ? "</th>" : "</td>");
        }
        le_buf_puts(b, "</tr>\n");
    }
    le_buf_puts(b, "</tbody></table></div>\n");
    if (t->caption) {
        le_buf_puts(b, "<p class=\"cap\">");
        le_buf_html(b, t->caption);
        le_buf_puts(b, "</p>\n");
    }
    for (int i = 0; i < t->n_notes; i++) {
        le_buf_puts(b, "<p class=\"note\">");
        le_buf_html(b, t->notes[i]);
        le_buf_puts(b, "</p>\n");
    }
}

static void le_html_figure(struct le_buf *b, const struct le_figure *f) {
    le_buf_puts(b, "<figure id=\"f-");
    le_buf_html(b, f->id);
    le_buf_puts(b, "\"><img data-figure=\"");
    le_buf_html(b, f->id);
    le_buf_puts(b, "\" alt=\"");
    le_buf_html(b, f->title);
    le_buf_puts(b, "\" src=\"data:image/svg+xml;base64,");
    le_buf_base64(b, f->svg, f->svg_n);
    le_buf_puts(b, "\">\n<figcaption><b>");
    le_buf_html(b, f->title);
    le_buf_puts(b, ".</b> ");
    le_buf_html(b, f->caption ? f->caption : "");
    le_buf_printf(b,
                  " Files: <a href=\"figures/%s.svg\">SVG</a>, <a href=\"figures/%s.pdf\">PDF</a>, "
                  "<a href=\"figures/%s.gp\">gnuplot script</a>, <a href=\"figures/%s.dat\">data</a>.",
                  f->id, f->id, f->id, f->id);
    le_buf_puts(b, "</figcaption></figure>\n");
}

int le_render_html(const struct le_doc *doc, const char *path) {
    struct le_buf b = {0};
    le_buf_printf(&b,
                  "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>llamaeval report</title>\n<style>%s</style>\n</head><body>\n"
                  "<h1>llamaeval report</h1>\n<p class=\"cap\">Hover over a number for where it comes from "
                  "(run, model, task, metric, n, stderr); the provenance section at the end lists every run.</p>\n",
                  le_html_style);
    /* Contents: the section headings. */
    le_buf_puts(&b, "<nav><ul>");
    for (int i = 0; i < doc->n; i++)
        if (doc->b[i].kind == LE_BLOCK_HEADING && doc->b[i].level == 2) {
            le_buf_printf(&b, "<li><a href=\"#s%d\">", i);
            le_buf_html(&b, doc->b[i].text);
            le_buf_puts(&b, "</a></li>");
        }
    le_buf_puts(&b, "</ul></nav>\n");
    for (int i = 0; i < doc->n; i++) {
        const struct le_block *k = &doc->b[i];
        switch (k->kind) {
        case LE_BLOCK_HEADING:
            le_buf_printf(&b, "<h%d id=\"s%d\">", k->level, i);
            le_buf_html(&b, k->text);
            le_buf_printf(&b, "</h%d>\n", k->level);
            break;
        case LE_BLOCK_PARA:
            le_buf_puts(&b, "<p>");
            le_buf_html(&b, k->text);
            le_buf_puts(&b, "</p>\n");
            break;
        case LE_BLOCK_TABLE:
            le_html_table(&b, k->table);
            break;
        case LE_BLOCK_FIGURE:
            if (k->fig->svg)
                le_html_figure(&b, k->fig);
            break;
        }
    }
    le_buf_printf(&b, "<script>%s</script>\n</body></html>\n", le_html_script);
    return le_write_buf(path, &b);
}
