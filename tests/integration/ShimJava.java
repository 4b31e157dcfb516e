/*
 * The encoder is a Java program: through SunPKCS11 and the shim, log in,
 * generate an EC P-256 key pair on the token, sign, and verify (with the
 * token and with Java's own provider, so the signature is real ECDSA).
 * Usage: TEST_PIN=... java ShimJava SUNPKCS11-CONFIG
 */
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;

public class ShimJava {
	public static void main(String[] args) throws Exception {
		Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
		Security.addProvider(p);
		KeyStore ks = KeyStore.getInstance("PKCS11", p);
		ks.load(null, System.getenv("TEST_PIN").toCharArray());
		System.out.println("ok - logged in through " + p.getName());

		KeyPairGenerator gen = KeyPairGenerator.getInstance("EC", p);
		gen.initialize(new ECGenParameterSpec("secp256r1"));
		KeyPair kp = gen.generateKeyPair();
		System.out.println("ok - EC P-256 key pair generated on the token");

		byte[] data = "p11shim java".getBytes("UTF-8");
		Signature s = Signature.getInstance("SHA256withECDSA", p);
		s.initSign(kp.getPrivate());
		s.update(data);
		byte[] sig = s.sign();

		Signature v = Signature.getInstance("SHA256withECDSA", p);
		v.initVerify(kp.getPublic());
		v.update(data);
		Signature w = Signature.getInstance("SHA256withECDSA", "SunEC");
		w.initVerify(kp.getPublic());
		w.update(data);
		if (!v.verify(sig) || !w.verify(sig))
			throw new AssertionError("signature does not verify");
		System.out.println("ok - signed on the token, verified by the token and by SunEC");
	}
}
