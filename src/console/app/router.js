// Pages by the address's hash (#/worklist, #/study/<Study Instance UID>, #/models, #/jobs,
// #/audit): the service serves one page, and the browser's back button and bookmarks work.

import { useEffect, useState } from 'preact/hooks';

/** @typedef {{ page: 'worklist' | 'study' | 'models' | 'jobs' | 'audit', param: string | null }} Route */

/** @returns {Route} */
export function parseRoute(/** @type {string} */ hash) {
  const [, page = '', ...rest] = hash.replace(/^#/, '').split('/');
  const param = rest.length ? decodeURIComponent(rest.join('/')) : null;
  if (page === 'study' && param) return { page: 'study', param };
  if (page === 'models' || page === 'jobs' || page === 'audit') return { page, param: null };
  return { page: 'worklist', param: null };
}

/** The current route; follows hash changes. */
export function useRoute() {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The address of a page. */
export function href(/** @type {Route['page']} */ page, /** @type {string | null} */ param = null) {
  return param ? `#/${page}/${encodeURIComponent(param)}` : `#/${page}`;
}
