// The login page: user name and password; a wrong one is said plainly, and nothing is cleared but
// the password.
import { ApiError, type Api, type Session } from '../api.js';
import { h } from '../dom.js';

export function loginPage(api: Api, onLogin: (session: Session) => void, notice?: string): HTMLElement {
  const user = h('input', { name: 'user', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'login-form',
      on: {
        submit: (event) => {
          event.preventDefault();
          void signIn();
        },
      },
    },
    h('label', null, 'User', user),
    h('label', null, 'Password', password),
    submit,
    error,
  );
  async function signIn() {
    error.textContent = '';
    submit.disabled = true;
    try {
      await api.post('/api/login', { user: user.value, password: password.value });
      onLogin(await api.get<Session>('/api/session'));
    } catch (cause) {
      password.value = '';
      password.focus();
      error.textContent =
        cause instanceof ApiError && cause.code === 'bad_credentials'
          ? 'wrong user name or password'
          : cause instanceof ApiError && cause.code === 'rate_limited'
            ? 'too many attempts: wait a minute and try again'
            : cause instanceof Error
              ? cause.message
              : String(cause);
    } finally {
      submit.disabled = false;
    }
  }
  return h(
    'div',
    { class: 'login-screen' },
    h(
      'div',
      { class: 'login-card' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, 'P'), 'Posture'),
      h('p', { class: 'muted' }, 'Agent posture console'),
      notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
      form,
    ),
  );
}
