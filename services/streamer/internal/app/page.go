package app

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
)

// web holds the live page: plain HTML, CSS and a small script that draws
// its charts on <canvas> from /progress and /rows. Nothing is fetched
// from elsewhere, so the page works offline.
//
//go:embed web
var web embed.FS

// pageRoutes serves the live page at / and its assets under /assets/.
func pageRoutes(mux *http.ServeMux, log *slog.Logger) {
	assets, err := fs.Sub(web, "web")
	if err != nil { // only if the embed directive and the directory disagree
		log.Error("live page assets", "err", err)
		return
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
}
