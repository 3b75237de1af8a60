// The console's browser code: one page app over the console's HTTP API (see ../../API.md).
document.documentElement.dataset.ready = 'true';
