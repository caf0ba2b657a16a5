// The console's frame: sign-in, the navigation a role may use, and the page of the address.
// The API decides what each role may do; the console only leaves out what it would refuse
// (jobs and audit are for admins; a PACS key has nothing to see here).

import { useEffect, useState } from 'preact/hooks';
import { ApiError, forgetCredential, gql, onCredentialRefused, storeCredential, storedCredential } from './api.js';
import { Loading, Page } from './components/common.jsx';
import { Audit } from './pages/audit.jsx';
import { Jobs } from './pages/jobs.jsx';
import { Models } from './pages/models.jsx';
import { SignIn } from './pages/sign-in.jsx';
import { StudyPage } from './pages/study.jsx';
import { Worklist } from './pages/worklist.jsx';
import { href, useRoute } from './router.js';

/** @typedef {import('../generated/operation-types.js').MeResult['me']} Me */
/** @typedef {import('./router.js').Route['page']} PageName */

/** The pages in the navigation, and who may see them. */
const NAVIGATION = /** @type {const} */ ([
  { page: 'worklist', text: 'Worklist', admin: false },
  { page: 'models', text: 'Models', admin: false },
  { page: 'jobs', text: 'Jobs', admin: true },
  { page: 'audit', text: 'Audit', admin: true },
]);

export function App() {
  const [me, setMe] = useState(/** @type {Me | null} */ (null));
  const [checking, setChecking] = useState(() => storedCredential() !== null);
  const [notice, setNotice] = useState(/** @type {string | null} */ (null));
  const route = useRoute();

  const signOut = (/** @type {string | null} */ why = null) => {
    forgetCredential();
    setMe(null);
    setNotice(why);
  };

  useEffect(() => {
    const stored = storedCredential();
    if (stored) {
      gql('Me', {}, stored).then(
        (d) => (setMe(d.me), setChecking(false)),
        (caught) => {
          setChecking(false);
          if (caught instanceof ApiError && caught.code === 'UNAUTHENTICATED') signOut(`Signed out: ${caught.message}.`);
          else setNotice(caught instanceof Error ? caught.message : String(caught));
        },
      );
    }
    return onCredentialRefused((error) => signOut(`Signed out: the service no longer accepts your credential (${error.message}).`));
  }, []);

  if (checking) return <Loading what="Signing in" />;
  if (!me) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(credential, who) => {
          storeCredential(credential);
          setNotice(null);
          setMe(who);
        }}
      />
    );
  }

  const admin = me.role === 'ADMIN';
  const clinical = admin || me.role === 'CLINICIAN';
  const allowed = (/** @type {PageName} */ page) => clinical && (admin || !NAVIGATION.some((n) => n.page === page && n.admin));
  const current = route.page === 'study' ? 'worklist' : route.page;

  return (
    <>
      <a class="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('page-title')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">mammocad</span>
        <nav aria-label="Console">
          <ul>
            {NAVIGATION.filter((n) => allowed(n.page)).map((n) => (
              <li key={n.page}>
                <a href={href(n.page)} aria-current={current === n.page ? 'page' : undefined}>
                  {n.text}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {me.name} <span class="badge role">{me.role.toLowerCase()}</span>
          </span>
          <button type="button" class="secondary small" onClick={() => signOut('Signed out.')}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        {!clinical ? (
          <Page title="Nothing to see with this key">
            <p>You are signed in with a {me.role.toLowerCase()} credential, which only announces studies. The console needs a clinician or admin key.</p>
          </Page>
        ) : !allowed(route.page) ? (
          <Page title="Not available">
            <p>
              The {route.page} page is for administrators; you are signed in as a {me.role.toLowerCase()}. <a href={href('worklist')}>Go to the worklist</a>.
            </p>
          </Page>
        ) : route.page === 'study' && route.param ? (
          <StudyPage uid={route.param} />
        ) : route.page === 'models' ? (
          <Models admin={admin} />
        ) : route.page === 'jobs' ? (
          <Jobs />
        ) : route.page === 'audit' ? (
          <Audit />
        ) : (
          <Worklist />
        )}
      </main>
      <footer class="bottom">
        <p>Research use only unless your site has validated the active model. Every request is audited.</p>
      </footer>
    </>
  );
}
