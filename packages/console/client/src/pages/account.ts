// Account: the signed-in user's second factors — a TOTP app or a security key — for step-up.
import { chip, h, replace } from '../dom.js';
import { errorText, type PageFactory } from '../page.js';
import { askStepUp } from '../stepup.js';
import { createCredential } from '../webauthn.js';

export const accountPage: PageFactory = ({ api, session }) => {
  const factors = h('div', { class: 'stats' });
  const totpArea = h('div');
  const keyResult = h('p', { role: 'status' });
  const element = h(
    'div',
    { class: 'page account' },
    h('section', { class: 'panel' }, h('h2', null, 'Signed in'), factors),
    h('section', { class: 'panel' }, h('h2', null, 'Authenticator app (TOTP)'), totpArea),
    h(
      'section',
      { class: 'panel' },
      h('h2', null, 'Security key or passkey (WebAuthn)'),
      h(
        'button',
        { type: 'button', class: 'primary', on: { click: () => void registerKey() } },
        'Register a security key',
      ),
      keyResult,
    ),
  );

  const draw = () => {
    replace(
      factors,
      h(
        'div',
        null,
        h('strong', null, session.user),
        ' ',
        session.roles.map((role) => chip(role, 'role')),
      ),
      h(
        'div',
        null,
        'TOTP ',
        chip(session.factors.totp ? 'enrolled' : 'not enrolled', session.factors.totp ? 'ok' : 'unknown'),
      ),
      h(
        'div',
        null,
        'security key ',
        chip(
          session.factors.webauthn ? 'enrolled' : 'not enrolled',
          session.factors.webauthn ? 'ok' : 'unknown',
        ),
      ),
    );
  };

  const enrolTotp = async () => {
    try {
      // Replacing a confirmed factor needs a proof with the current one.
      const stepUp =
        session.factors.totp || session.factors.webauthn
          ? await askStepUp(api, session, 'Enrolling a new authenticator')
          : undefined;
      if ((session.factors.totp || session.factors.webauthn) && !stepUp) return;
      const { secret, uri } = await api.post<{ secret: string; uri: string }>(
        '/api/totp/enrol',
        stepUp ? { stepUp } : {},
      );
      const code = h('input', { name: 'code', inputmode: 'numeric', maxlength: 6, 'aria-label': 'code' });
      const result = h('p', { role: 'status' });
      replace(
        totpArea,
        h('p', null, 'Add this secret to your authenticator app, then enter the code it shows.'),
        h(
          'dl',
          { class: 'facts' },
          h('dt', null, 'secret'),
          h('dd', null, h('code', null, secret)),
          h('dt', null, 'URI'),
          h('dd', null, h('code', { class: 'wrap' }, uri)),
        ),
        h(
          'form',
          {
            class: 'inline-form',
            on: {
              submit: async (event) => {
                event.preventDefault();
                try {
                  await api.post('/api/totp/confirm', { code: code.value.trim() });
                  session.factors.totp = true;
                  draw();
                  result.textContent = 'the authenticator app is enrolled';
                } catch (error) {
                  result.textContent = errorText(error);
                }
              },
            },
          },
          h('label', null, 'Code', code),
          h('button', { type: 'submit', class: 'primary' }, 'Confirm'),
        ),
        result,
      );
    } catch (error) {
      replace(totpArea, h('p', { class: 'form-error' }, errorText(error)));
    }
  };

  async function registerKey() {
    keyResult.textContent = '';
    try {
      const stepUp =
        session.factors.totp || session.factors.webauthn
          ? await askStepUp(api, session, 'Registering a security key')
          : undefined;
      if ((session.factors.totp || session.factors.webauthn) && !stepUp) return;
      const options = await api.post<Record<string, unknown>>(
        '/api/webauthn/register/options',
        stepUp ? { stepUp } : {},
      );
      const response = await createCredential(options);
      await api.post('/api/webauthn/register/verify', { response });
      session.factors.webauthn = true;
      draw();
      keyResult.textContent = 'the security key is registered';
    } catch (error) {
      keyResult.textContent = errorText(error);
    }
  }

  return {
    element,
    refresh: async () => {
      draw();
      if (!totpArea.hasChildNodes()) {
        replace(
          totpArea,
          h(
            'button',
            { type: 'button', on: { click: () => void enrolTotp() } },
            session.factors.totp ? 'Enrol a new authenticator app' : 'Enrol an authenticator app',
          ),
        );
      }
    },
  };
};
