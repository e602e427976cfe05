// Marks the page as scripted before it is drawn, so the collapsing menu (Bootstrap's collapse, loaded with
// `defer`) starts closed on narrow screens; without JavaScript the class is never set and the menu stays open
// (static/css/app.css).
document.documentElement.classList.add("js");
