// Moves on from a page that has just set a cookie (a watch link). A navigation the page
// itself starts is same-site, so the SameSite=Strict cookie goes with it; a server redirect
// at the end of a link clicked elsewhere would not carry it.
const to = document.querySelector('[data-go]')?.dataset.go;
if (to && to.startsWith('/') && !to.startsWith('//')) location.replace(to);
